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

session_totals as (

    select
        session_id,
        min(created_at) as started_at,
        max(created_at) as ended_at,
        count(*) as pageviews

    from int_pageviews_sessionized
    group by session_id

),

landings as (

    select
        session_id,
        cookie,
        cookie_key,
        url as landing_url,
        url_path as landing_path,
        channel,
        channel_group,
        device_class

    from int_pageviews_sessionized
    where is_session_start

),

final as (

    select
        landings.session_id,
        landings.cookie,
        landings.cookie_key,
        session_totals.started_at,
        session_totals.ended_at,
        session_totals.pageviews,
        landings.landing_url,
        landings.landing_path,
        landings.channel,
        landings.channel_group,
        landings.device_class,
        {{ dbt.datediff('session_totals.started_at', 'session_totals.ended_at', 'second') }} as duration_seconds,
        session_totals.pageviews = 1 as is_bounce

    from landings
    inner join session_totals
        on landings.session_id = session_totals.session_id

)

select * from final
