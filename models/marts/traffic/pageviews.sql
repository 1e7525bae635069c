with

int_pageviews_sessionized as (

    select * from {{ ref('int_pageviews_sessionized') }}

),

final as (

    select
        event_id,
        cookie,
        session_id,
        created_at,
        url,
        url_host,
        url_path,
        referrer_host,
        channel,
        channel_group,
        device_class,
        browser,
        os,
        is_touch,
        is_session_start as is_entrance,
        utm_source,
        utm_medium,
        utm_campaign

    from int_pageviews_sessionized

)

select * from final
