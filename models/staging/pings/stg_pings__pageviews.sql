{#- One row per event: a redelivered event is counted once, the first delivery loaded
    wins (earliest partition, then batch id, then row of the file).

    Incrementally, only the events of the new batches are looked at. The first delivery
    among their new rows competes with the row the event already has here (the first of all
    earlier deliveries), and only winners are written: a new event, or a late delivery that
    comes first. An event whose row stays is neither deleted nor rewritten, so the run costs
    a lookup of the new events' ids, not a pass over every delivery of them in raw.pings.

    The lookup and the delete+insert go by event_key, the first 64 bits of event_id's MD5:
    probing 20 M such integers takes a fraction of the time of 20 M id strings. Deliveries
    still compete per event_id, and the delete matches event_id too, so a stored event of
    another id with the same key is neither taken nor removed (macro event_key). The delete
    reads only the rows from the earliest partition written on (strategy first_deliveries,
    macros/first_delivery.sql): a delivery that is replaced comes after its replacement. -#}
{{
    config(
        materialized='incremental',
        unique_key=['event_key', 'event_id'],
        incremental_strategy='first_deliveries',
    )
}}
-- depends_on: {{ ref('stg_ops__batches_new') }}
with

source as (

    select * from {{ source('pings', 'pings') }}
    {% if is_incremental() %}
        where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new'), column_prefix='_') }}
    {% endif %}

),

renamed as (

    select
        event_id,
        {{ webfunnel.event_key('event_id') }} as event_key,
        cookie,
        {{ webfunnel.cookie_key('cookie') }} as cookie_key,
        created_at,
        url,
        {{ webfunnel.url_host('url') }} as url_host,
        {{ webfunnel.url_path('url') }} as url_path,
        nullif(trim(referrer), '') as referrer,
        {{ webfunnel.url_host("nullif(trim(referrer), '')") }} as referrer_host,
        lower({{ webfunnel.url_query_param('url', 'utm_source') }}) as utm_source,
        lower({{ webfunnel.url_query_param('url', 'utm_medium') }}) as utm_medium,
        lower({{ webfunnel.url_query_param('url', 'utm_campaign') }}) as utm_campaign,
        nullif(trim(user_agent), '') as user_agent,
        _batch_id as batch_id,
        _partition_at as partition_at,
        _file_row_number as file_row_number,
        false as is_stored

    from source

),

{{ webfunnel.first_delivery_ctes('renamed', [
        ('cookie', dbt.type_string()),
        ('cookie_key', webfunnel.cookie_key_type()),
        ('created_at', dbt.type_timestamp()),
        ('url', dbt.type_string()),
        ('url_host', dbt.type_string()),
        ('url_path', dbt.type_string()),
        ('referrer', dbt.type_string()),
        ('referrer_host', dbt.type_string()),
        ('utm_source', dbt.type_string()),
        ('utm_medium', dbt.type_string()),
        ('utm_campaign', dbt.type_string()),
        ('user_agent', dbt.type_string()),
    ],
    conflict_columns=['cookie', 'created_at', 'user_agent'],
) }}

select * from final
