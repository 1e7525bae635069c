{#- One row per signup form submission: a redelivered event is counted once, the first
    delivery loaded wins (earliest partition, then batch id, then row of the file).
    Incrementally, as stg_pings__pageviews: the first new delivery of each event of the new
    batches competes with the row the event already has, and only winners are written. -#}
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

    select * from {{ source('signups', 'signups') }}
    {% if is_incremental() %}
        where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new'), column_prefix='_') }}
    {% endif %}

),

renamed as (

    select
        event_id,
        {{ webfunnel.event_key('event_id') }} as event_key,
        cookie,
        created_at as signed_up_at,
        -- a person is lower(trim(email)); the raw email goes no further than this model
        {{ webfunnel.sha256_hex('lower(trim(email))') }} as person_id,
        nullif(trim(referring_channel), '') as referring_channel,
        _batch_id as batch_id,
        _partition_at as partition_at,
        _file_row_number as file_row_number,
        false as is_stored

    from source

),

{{ webfunnel.first_delivery_ctes('renamed', [
        ('cookie', dbt.type_string()),
        ('signed_up_at', dbt.type_timestamp()),
        ('person_id', dbt.type_string()),
        ('referring_channel', dbt.type_string()),
    ],
    conflict_columns=['cookie', 'person_id'],
) }}

select * from final
