{#- One row per account. Logins are `login` events; the current plan is the plan of the
    latest event that states one; an upgrade is a plan change to a higher tier than the plan
    before it (an account starts on `free`). Pageviews and active days count the human
    pings of the cookies linked to the account's person (its signup cookies and the cookies
    that logged in with its email); an active day has such a ping or a login.

    Incrementally, the accounts whose row may change are recomputed whole: those with a new
    event, and those with an event of a changed person (int_persons_changed: new pings on a
    linked cookie, a new linked cookie, a new signup or CRM state). The person of the
    account's latest event is one of its events' persons, so a change to it is caught. -#}
{{
    config(
        materialized='incremental',
        unique_key='account_id',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('stg_ops__batches_new') }}
-- depends_on: {{ ref('int_persons_changed') }}
with

stg_accounts__events as (

    select * from {{ ref('stg_accounts__events') }}
    {% if is_incremental() %}
        where account_id in (
            select account_id from {{ ref('stg_accounts__events') }}
            where
                {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new')) }}
                or person_id in (select person_id from {{ ref('int_persons_changed') }})
        )
    {% endif %}

),

plan_tiers as (

    select * from {{ ref('plan_tiers') }}

),

int_person_cookies_linked as (

    select * from {{ ref('int_person_cookies_linked') }}

),

int_person_pageviews_linked as (

    select * from {{ ref('int_person_pageviews_linked') }}

),

ranked_events as (

    select
        *,
        row_number() over (
            partition by account_id order by created_at desc, event_id desc
        ) as recency

    from stg_accounts__events

),

plan_events as (

    -- events that state a known plan, in order
    select
        stg_accounts__events.account_id,
        stg_accounts__events.event_type,
        plan_tiers.plan_rank,
        row_number() over (
            partition by stg_accounts__events.account_id
            order by stg_accounts__events.created_at, stg_accounts__events.event_id
        ) as plan_sequence

    from stg_accounts__events
    inner join plan_tiers
        on stg_accounts__events.plan = plan_tiers.plan

),

plan_changes as (

    select
        current_plan_events.account_id,
        current_plan_events.plan_rank,
        coalesce(previous_plan_events.plan_rank, 0) as previous_plan_rank

    from plan_events as current_plan_events
    left join plan_events as previous_plan_events
        on
            current_plan_events.account_id = previous_plan_events.account_id
            and current_plan_events.plan_sequence = previous_plan_events.plan_sequence + 1
    where current_plan_events.event_type = 'plan_change'

),

upgrade_totals as (

    select
        account_id,
        count(case when plan_rank > previous_plan_rank then 1 end) as upgrades

    from plan_changes
    group by account_id

),

account_totals as (

    select
        account_id,
        min(case when event_type = 'login' then created_at end) as first_login_at,
        max(case when event_type = 'login' then created_at end) as last_login_at,
        count(case when event_type = 'login' then 1 end) as logins,
        count(case when event_type = 'plan_change' then 1 end) as plan_changes

    from stg_accounts__events
    group by account_id

),

latest_person as (

    select account_id, person_id
    from ranked_events
    where recency = 1

),

current_plans as (

    select
        account_id,
        plan as current_plan,
        row_number() over (
            partition by account_id order by created_at desc, event_id desc
        ) as plan_recency

    from stg_accounts__events
    where plan is not null

),

account_pageviews as (

    select
        latest_person.account_id,
        int_person_pageviews_linked.cookie,
        int_person_pageviews_linked.event_id,
        int_person_pageviews_linked.created_at,
        int_person_pageviews_linked.channel

    from latest_person
    inner join int_person_cookies_linked
        on latest_person.person_id = int_person_cookies_linked.person_id
    inner join int_person_pageviews_linked
        on int_person_cookies_linked.cookie = int_person_pageviews_linked.cookie
    {% if is_incremental() %}
        -- the recomputed accounts' cookies found by key first (macro cookie_key)
        where int_person_pageviews_linked.cookie_key in (
            select {{ webfunnel.cookie_key('int_person_cookies_linked.cookie') }}
            from latest_person
            inner join int_person_cookies_linked
                on latest_person.person_id = int_person_cookies_linked.person_id
        )
    {% endif %}

),

first_pageviews as (

    select
        account_id,
        channel as first_channel,
        row_number() over (
            partition by account_id order by created_at, event_id
        ) as pageview_rank

    from account_pageviews

),

pageview_totals as (

    select
        account_id,
        count(*) as pageviews

    from account_pageviews
    group by account_id

),

active_days as (

    select account_id, cast(created_at as date) as active_date
    from account_pageviews

    union

    select account_id, cast(created_at as date) as active_date
    from stg_accounts__events
    where event_type = 'login'

),

active_day_totals as (

    select
        account_id,
        count(*) as active_days

    from active_days
    group by account_id

),

final as (

    select
        account_totals.account_id,
        latest_person.person_id,
        account_totals.first_login_at,
        account_totals.last_login_at,
        account_totals.logins,
        current_plans.current_plan,
        account_totals.plan_changes,
        coalesce(upgrade_totals.upgrades, 0) as upgrades,
        first_pageviews.first_channel,
        coalesce(pageview_totals.pageviews, 0) as pageviews,
        coalesce(active_day_totals.active_days, 0) as active_days

    from account_totals
    inner join latest_person
        on account_totals.account_id = latest_person.account_id
    left join current_plans
        on
            account_totals.account_id = current_plans.account_id
            and current_plans.plan_recency = 1
    left join upgrade_totals
        on account_totals.account_id = upgrade_totals.account_id
    left join first_pageviews
        on
            account_totals.account_id = first_pageviews.account_id
            and first_pageviews.pageview_rank = 1
    left join pageview_totals
        on account_totals.account_id = pageview_totals.account_id
    left join active_day_totals
        on account_totals.account_id = active_day_totals.account_id

)

select * from final
