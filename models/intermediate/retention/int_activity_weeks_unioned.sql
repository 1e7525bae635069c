{#- The weeks in which each member was active: a cookie with a (human) ping or a login
    from it; a person with a ping from any cookie linked to it (signup or login cookies)
    or a login with its email.

    An incremental run recomputes the changed cookies and persons whole; each input is
    filtered on them before the union (a changed person's linked cookies first), so the
    scans of the history read two columns and the unions deduplicate only the changed
    members' weeks. The changed cookies' page views are the rows the sessionization wrote in
    this invocation (macro built_in_this_invocation), a changed person's linked cookies'
    are found by their lookup key (macro cookie_key), and the rows replaced by member_key
    (macro member_key). -#}
{{
    config(
        materialized='incremental',
        unique_key='member_key',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_cookies_changed') }}
-- depends_on: {{ ref('int_persons_changed') }}
with

int_pageviews_sessionized as (

    select * from {{ ref('int_pageviews_sessionized') }}

),

stg_accounts__events as (

    select * from {{ ref('stg_accounts__events') }}

),

int_person_pageviews_linked as (

    select * from {{ ref('int_person_pageviews_linked') }}

),

int_person_cookies_linked as (

    select * from {{ ref('int_person_cookies_linked') }}
    {% if is_incremental() %}
        where person_id in (select person_id from {{ ref('int_persons_changed') }})
    {% endif %}

),

logins as (

    select * from stg_accounts__events
    where event_type = 'login'

),

cookie_activity as (

    select
        'cookie' as member_kind,
        cookie as member_id,
        cast({{ dbt.date_trunc('week', 'created_at') }} as date) as activity_week
    {% if is_incremental() %}
        -- the changed cookies' rows, as this invocation wrote them there (macro
        -- built_in_this_invocation)
        from {{ ref('int_pageviews_sessionized') }}
        where {{ webfunnel.built_in_this_invocation() }}
    {% else %}
        from int_pageviews_sessionized
    {% endif %}

    union

    select
        'cookie' as member_kind,
        cookie as member_id,
        cast({{ dbt.date_trunc('week', 'created_at') }} as date) as activity_week
    from logins
    {% if is_incremental() %}
        -- by key as the pings are, so both take the same cookies (see macro cookie_key)
        where {{ webfunnel.cookie_key('cookie') }} in (
            select cookie_key from {{ ref('int_cookies_changed') }}
        )
    {% endif %}

),

linked_pageviews as (

    select
        cookie,
        created_at
    {% if is_incremental() %}
        -- the changed persons' cookies' rows found by key and row id first (macros
        -- cookie_key, rows_with_keys): the join then reads few rows
        from {{ ref('int_person_pageviews_linked') }}
        where {{ webfunnel.rows_with_keys(
            ref('int_person_pageviews_linked'), 'cookie_key',
            'select ' ~ webfunnel.cookie_key('cookie') ~ ' from int_person_cookies_linked'
        ) }}
    {% else %}
        from int_person_pageviews_linked
    {% endif %}

),

person_activity as (

    select
        'person' as member_kind,
        int_person_cookies_linked.person_id as member_id,
        cast({{ dbt.date_trunc('week', 'linked_pageviews.created_at') }} as date) as activity_week
    from linked_pageviews
    inner join int_person_cookies_linked
        on linked_pageviews.cookie = int_person_cookies_linked.cookie

    union

    select
        'person' as member_kind,
        person_id as member_id,
        cast({{ dbt.date_trunc('week', 'created_at') }} as date) as activity_week
    from logins
    {% if is_incremental() %}
        where person_id in (select person_id from {{ ref('int_persons_changed') }})
    {% endif %}

),

activity as (

    select * from cookie_activity
    union all
    select * from person_activity

),

final as (

    select
        member_kind,
        member_id,
        {{ webfunnel.member_key('member_kind', 'member_id') }} as member_key,
        activity_week

    from activity

)

select * from final
