with

source as (

    select * from {{ source('pings', 'pings') }}

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
