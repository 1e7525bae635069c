{{ config(materialized='view') }}

with

stg_pings__pageviews as (

    select * from {{ ref('stg_pings__pageviews') }}

),

stg_pings__user_agents as (

    select * from {{ ref('stg_pings__user_agents') }}

),

int_referrer_hosts_mapped as (

    select * from {{ ref('int_referrer_hosts_mapped') }}

),

channel_sources as (

    select * from {{ ref('channel_sources') }}

),

-- the canonical source of each ping, first matching rule of CONTRACT §2
sourced as (

    select
        stg_pings__pageviews.*,
        coalesce(stg_pings__user_agents.device_class, 'other') as device_class,
        stg_pings__user_agents.browser,
        stg_pings__user_agents.os,
        coalesce(stg_pings__user_agents.is_bot, false) as is_bot,
        coalesce(
            stg_pings__pageviews.referrer_host is not null
            and stg_pings__pageviews.url_host is not null
            and {{ webfunnel.strip_www('stg_pings__pageviews.referrer_host') }}
            = {{ webfunnel.strip_www('stg_pings__pageviews.url_host') }},
            false
        ) as is_internal_referrer,
        case
            when stg_pings__pageviews.utm_source is not null
                then coalesce(utm_sources.channel, stg_pings__pageviews.utm_source)
            when stg_pings__pageviews.referrer_host is null then 'direct'
            when {{ webfunnel.strip_www('stg_pings__pageviews.referrer_host') }} -- noqa: LT02
                = {{ webfunnel.strip_www('stg_pings__pageviews.url_host') }} then null
            when int_referrer_hosts_mapped.channel is not null then int_referrer_hosts_mapped.channel
            else 'referral'
        end as touch_channel,
        case
            when stg_pings__pageviews.utm_source is not null then utm_sources.source_category
            when stg_pings__pageviews.referrer_host is null then null
            else int_referrer_hosts_mapped.source_category
        end as touch_source_category

    from stg_pings__pageviews
    left join stg_pings__user_agents
        on stg_pings__pageviews.user_agent = stg_pings__user_agents.user_agent
    left join int_referrer_hosts_mapped
        on stg_pings__pageviews.referrer_host = int_referrer_hosts_mapped.referrer_host
    left join channel_sources as utm_sources
        on stg_pings__pageviews.utm_source = utm_sources.source

),

-- medium and campaign as GA4 sets them, for the default channel group
mediated as (

    select
        sourced.*,
        case
            when touch_channel is null then null
            when utm_source is not null then coalesce(utm_medium, '(not set)')
            when referrer_host is null then '(none)'
            when touch_source_category = 'SEARCH' then 'organic'
            else 'referral'
        end as touch_medium,
        case when utm_source is not null then utm_campaign end as touch_campaign

    from sourced

),

final as (

    select
        event_id,
        cookie,
        cookie_key,
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
        device_class,
        browser,
        os,
        is_bot,
        is_internal_referrer,
        touch_channel is not null as is_touch,
        touch_channel,
        touch_medium,
        touch_campaign,
        touch_source_category,
        case
            when touch_channel is not null
                then {{ webfunnel.ga4_channel_group(
                    'touch_channel', 'touch_medium', 'touch_campaign', 'touch_source_category'
                ) }}
        end as touch_channel_group,
        batch_id,
        partition_at

    from mediated

)

select * from final
