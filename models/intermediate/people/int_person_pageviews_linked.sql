{#- The page views (int_pageviews_sessionized) of the cookies linked to a person
    (int_person_cookies_linked): the only page views the person-level models read
    (accounts, int_conversions_credited, int_activity_weeks_unioned). They find their
    persons' cookies here by lookup key (macro cookie_key), in a table of 3.3 M rows
    instead of the 41 M of the sessionization on the 28-day bench.

    Incrementally, the rows this invocation's sessionization wrote (macro
    built_in_this_invocation) that belong to linked cookies replace those cookies' rows, by
    key. A cookie linked in this run is a changed cookie (a new login from it, or a new
    signup of its person: int_cookies_changed), so the sessionization rewrote its rows in
    the same invocation; a link is never removed (an event moved to another person or
    cookie is a conflicting redelivery, followed by a full refresh: ingest/pipeline.py). -#}
{{
    config(
        materialized='incremental',
        unique_key='cookie_key',
        incremental_strategy='delete+insert',
    )
}}
with

int_pageviews_sessionized as (

    select * from {{ ref('int_pageviews_sessionized') }}
    {% if is_incremental() %}
        where {{ webfunnel.built_in_this_invocation() }}
    {% endif %}

),

int_person_cookies_linked as (

    select * from {{ ref('int_person_cookies_linked') }}

),

final as (

    select
        event_id,
        cookie,
        cookie_key,
        created_at,
        pageview_number,
        is_touch,
        touch_channel,
        channel

    from int_pageviews_sessionized
    where cookie in (select cookie from int_person_cookies_linked)

)

select * from final
