{{
    config(
        materialized='incremental',
        unique_key='cookie_key',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_cookies_changed') }}
with

int_pageviews_sessionized as (

    select * from {{ ref('int_pageviews_sessionized') }}
    {% if is_incremental() %}
        -- the changed cookies' rows, as this invocation wrote them there (macro
        -- built_in_this_invocation)
        where {{ webfunnel.built_in_this_invocation() }}
    {% endif %}

),

final as (

    select
        event_id,
        cookie,
        cookie_key,
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
