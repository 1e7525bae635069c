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
        -- every delivery of the events that arrived since the last build, so that the
        -- first delivery is chosen among all of them
        where event_id in (
            select event_id from {{ source('pings', 'pings') }}
            where _batch_id in (select batch_id from {{ ref('stg_ops__batches_new') }})
        )
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
        -- a redelivered event is counted once: the first delivery loaded wins
        row_number() over (
            partition by event_id
            order by _partition_at, _batch_id, _file_row_number
        ) as delivery_number

    from source

)

select * from renamed
where delivery_number = 1
