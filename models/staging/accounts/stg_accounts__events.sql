{#- One row per account event: a redelivered event is counted once, the first delivery
    loaded wins (earliest partition, then batch id, then row of the file). Incrementally, as
    stg_pings__pageviews: the first new delivery of each event of the new batches competes
    with the row the event already has, and only winners are written. -#}
{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('stg_ops__batches_new') }}
with

source as (

    select * from {{ source('accounts', 'events') }}
    {% if is_incremental() %}
        where _batch_id in (select batch_id from {{ ref('stg_ops__batches_new') }})
    {% endif %}

),

renamed as (

    select
        event_id,
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

deliveries as (

    select * from renamed

    {% if is_incremental() %}
        union all

        -- the row each of these events already has, by its ordering columns only: it is
        -- looked up by id, not read whole, and stays unless a new delivery comes first (a
        -- reloaded batch ties with its own stored row: the stored row stays)
        select
            event_id,
            cast(null as {{ dbt.type_string() }}) as cookie,
            cast(null as {{ dbt.type_timestamp() }}) as created_at,
            cast(null as {{ dbt.type_string() }}) as account_id,
            cast(null as {{ dbt.type_string() }}) as person_id,
            cast(null as {{ dbt.type_string() }}) as event_type,
            cast(null as {{ dbt.type_string() }}) as plan,
            batch_id,
            partition_at,
            file_row_number,
            true as is_stored

        from {{ this }}
        where event_id in (select event_id from renamed)
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by partition_at, batch_id, file_row_number, is_stored desc
        ) as delivery_rank

    from deliveries

),

final as (

    select
        event_id,
        cookie,
        created_at,
        account_id,
        person_id,
        event_type,
        plan,
        batch_id,
        partition_at,
        file_row_number

    from ranked
    where delivery_rank = 1 and not is_stored

)

select * from final
