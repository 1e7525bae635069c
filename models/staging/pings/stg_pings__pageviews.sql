{#- One row per event: a redelivered event is counted once, the first delivery loaded
    wins (earliest partition, then batch id, then row of the file).

    Incrementally, only the events of the new batches are looked at. The first delivery
    among their new rows competes with the row the event already has here (the first of all
    earlier deliveries), and only winners are written: a new event, or a late delivery that
    comes first. An event whose row stays is neither deleted nor rewritten, so the run costs
    a lookup of the new events' ids, not a pass over every delivery of them in raw.pings. -#}
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

    select * from {{ source('pings', 'pings') }}
    {% if is_incremental() %}
        where _batch_id in (select batch_id from {{ ref('stg_ops__batches_new') }})
    {% endif %}

),

renamed as (

    select
        event_id,
        cookie,
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
            cast(null as {{ dbt.type_string() }}) as url,
            cast(null as {{ dbt.type_string() }}) as url_host,
            cast(null as {{ dbt.type_string() }}) as url_path,
            cast(null as {{ dbt.type_string() }}) as referrer,
            cast(null as {{ dbt.type_string() }}) as referrer_host,
            cast(null as {{ dbt.type_string() }}) as utm_source,
            cast(null as {{ dbt.type_string() }}) as utm_medium,
            cast(null as {{ dbt.type_string() }}) as utm_campaign,
            cast(null as {{ dbt.type_string() }}) as user_agent,
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
        url,
        url_host,
        url_path,
        referrer,
        referrer_host,
        utm_source,
        utm_medium,
        utm_campaign,
        user_agent,
        batch_id,
        partition_at,
        file_row_number

    from ranked
    where delivery_rank = 1 and not is_stored

)

select * from final
