{#- One row per account event: a redelivered event is counted once, the first delivery
    loaded wins (earliest partition, then batch id, then row of the file). Incrementally, as
    stg_pings__pageviews: the first new delivery of each event of the new batches competes
    with the row the event already has, and only winners are written. -#}
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

    select * from {{ source('accounts', 'events') }}
    {% if is_incremental() %}
        where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new'), column_prefix='_') }}
    {% endif %}

),

renamed as (

    select
        event_id,
        {{ webfunnel.event_key('event_id') }} as event_key,
        cookie,
        created_at,
        account_id,
        {{ webfunnel.sha256_hex('lower(trim(email))') }} as person_id,
        lower(trim(event_type)) as event_type,
        nullif(lower(trim(plan)), '') as plan,
        _batch_id as batch_id,
        _partition_at as partition_at,
        _file_row_number as file_row_number,
        false as is_stored

    from source

),

{{ webfunnel.first_delivery_ctes('renamed', [
        ('cookie', dbt.type_string()),
        ('created_at', dbt.type_timestamp()),
        ('account_id', dbt.type_string()),
        ('person_id', dbt.type_string()),
        ('event_type', dbt.type_string()),
        ('plan', dbt.type_string()),
    ],
    conflict_columns=['cookie', 'account_id', 'person_id', 'event_type'],
) }}

select * from final
