{#- One row per CRM contact state, identified by (email, updated_at): a redelivered state
    counts once, the first delivery loaded wins (earliest partition, then batch id, then row
    of the file). Incrementally, as stg_pings__pageviews: the first new delivery of each
    state of the new batches competes with the rows stored for the same persons, and only
    winners are written, so an hourly run hashes the new export rows, not every contact. -#}
{{
    config(
        materialized='incremental',
        unique_key=['person_id', 'updated_at'],
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('stg_ops__batches_new') }}
with

source as (

    select * from {{ source('crm', 'contacts') }}
    {% if is_incremental() %}
        where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new'), column_prefix='_') }}
    {% endif %}

),

renamed as (

    select
        {{ webfunnel.sha256_hex('lower(trim(email))') }} as person_id,
        updated_at,
        demo_at,
        trial_at,
        customer_at,
        _batch_id as batch_id,
        _partition_at as partition_at,
        _file_row_number as file_row_number,
        false as is_stored

    from source

),

{{ webfunnel.first_delivery_ctes(
    'renamed',
    [
        ('demo_at', dbt.type_timestamp()),
        ('trial_at', dbt.type_timestamp()),
        ('customer_at', dbt.type_timestamp()),
    ],
    id_columns=['person_id', 'updated_at'],
    lookup_column='person_id',
) }}

select * from final
