{#- Traffic per hour, channel group and device class. The channel group of a page view is
    its effective channel group; sessions and new visitors are counted in the hour, channel
    group and device class of their first page view, so each is counted once overall. -#}
{{
    config(
        materialized='incremental',
        unique_key='hour',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_cookies_changed') }}
with

int_pageviews_sessionized as (

    select * from {{ ref('int_pageviews_sessionized') }}
    {% if is_incremental() %}
        -- every hour in which a changed cookie has a page view is recomputed whole
        where {{ dbt.date_trunc('hour', 'created_at') }} in (
            select distinct {{ dbt.date_trunc('hour', 'created_at') }}
            from {{ ref('int_pageviews_sessionized') }}
            where cookie in (select cookie from {{ ref('int_cookies_changed') }})
        )
    {% endif %}

),

hourly as (

    select
        {{ dbt.date_trunc('hour', 'created_at') }} as hour,
        channel_group,
        device_class,
        count(*) as pageviews,
        count(distinct cookie) as visitors,
        count(case when pageview_number = 1 then 1 end) as new_visitors,
        count(case when is_session_start then 1 end) as sessions

    from int_pageviews_sessionized
    group by 1, 2, 3

),

final as (

    select
        cast(hour as {{ dbt.type_timestamp() }}) as hour,
        channel_group,
        device_class,
        pageviews,
        visitors,
        new_visitors,
        sessions

    from hourly

)

select * from final
