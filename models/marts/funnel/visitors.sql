{#- One row per (human) cookie. A cookie belongs to the person whose first signup used it
    (the earliest such signup if several persons share one cookie); the funnel stages come
    from that person's current CRM state. -#}
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

int_persons_signed_up as (

    select * from {{ ref('int_persons_signed_up') }}

),

int_contacts_resolved as (

    select * from {{ ref('int_contacts_resolved') }}

),

cookie_totals as (

    select
        cookie,
        min(created_at) as first_seen_at,
        max(created_at) as last_seen_at,
        count(*) as pageviews,
        count(case when is_session_start then 1 end) as sessions

    from int_pageviews_sessionized
    group by cookie

),

first_pageviews as (

    select
        cookie,
        cookie_key,
        url as first_url,
        referrer_host as first_referrer_host,
        channel as first_channel,
        channel_group as first_channel_group,
        device_class,
        browser,
        os

    from int_pageviews_sessionized
    where pageview_number = 1

),

cookie_owners as (

    select
        *,
        row_number() over (
            partition by cookie order by signed_up_at, signup_event_id
        ) as owner_rank

    from int_persons_signed_up

),

funnel_persons as (

    select
        cookie_owners.cookie,
        cookie_owners.person_id,
        cookie_owners.signed_up_at,
        int_contacts_resolved.demo_at,
        int_contacts_resolved.trial_at,
        int_contacts_resolved.customer_at

    from cookie_owners
    left join int_contacts_resolved
        on cookie_owners.person_id = int_contacts_resolved.person_id
    where cookie_owners.owner_rank = 1

),

pages_before_signup as (

    select
        funnel_persons.cookie,
        count(*) as pages_before_signup

    from funnel_persons
    inner join int_pageviews_sessionized
        on
            funnel_persons.cookie = int_pageviews_sessionized.cookie
            and int_pageviews_sessionized.created_at <= funnel_persons.signed_up_at
    group by funnel_persons.cookie

),

final as (

    select
        cookie_totals.cookie,
        first_pageviews.cookie_key,
        cookie_totals.first_seen_at,
        cookie_totals.last_seen_at,
        first_pageviews.first_url,
        first_pageviews.first_referrer_host,
        first_pageviews.first_channel,
        first_pageviews.first_channel_group,
        first_pageviews.device_class,
        first_pageviews.browser,
        first_pageviews.os,
        cookie_totals.pageviews,
        cookie_totals.sessions,
        funnel_persons.person_id,
        funnel_persons.signed_up_at,
        case
            when funnel_persons.person_id is not null
                then coalesce(pages_before_signup.pages_before_signup, 0)
        end as pages_before_signup,
        funnel_persons.demo_at,
        funnel_persons.trial_at,
        funnel_persons.customer_at,
        case
            when funnel_persons.customer_at is not null then 'customer'
            when funnel_persons.trial_at is not null then 'trial'
            when funnel_persons.demo_at is not null then 'demo'
            when funnel_persons.person_id is not null then 'signup'
            else 'visitor'
        end as furthest_stage,
        cast(cookie_totals.first_seen_at as date) as first_seen_date

    from cookie_totals
    inner join first_pageviews
        on cookie_totals.cookie = first_pageviews.cookie
    left join funnel_persons
        on cookie_totals.cookie = funnel_persons.cookie
    left join pages_before_signup
        on cookie_totals.cookie = pages_before_signup.cookie

)

select * from final
