{#- Human page views (bots dropped), each with its session and its effective channel.
    A session is a cookie's pings with gaps of at most `session_timeout_minutes`; it does not
    end at midnight. An internal-navigation ping is not a touch: it carries the channel of
    the cookie's latest touch, and a cookie whose first ping is internal starts `direct`.

    Incrementally, the changed cookies are recomputed whole, read and replaced by their
    lookup key (macro cookie_key), not the cookie string. Their page views are those this
    table already holds, read by row id (macro rows_with_keys: a cookie's rows lie together
    here, where in stg_pings__pageviews they are spread over the history), less the events
    that the new batches delivered again, plus the new batches' page views, classified. A
    page view's classification depends on its own ping and the seeds alone, and a change of
    the seeds or of the logic rebuilds everything (the project fingerprint), so a stored
    page view is what the view would give again. The new batches' rows are taken whether
    this run or an earlier, killed one wrote them: the stored copy of such an event is left
    out, the staged one taken.

    The windows sort the page views once per partition and order; four sorts of every row
    made this the full build's longest statement. On DuckDB (macro window_arg_max) the
    session's first event and the latest touch's channel come from the pass that numbers
    the sessions: the values at the latest session start and at the latest touch, by
    arg_max_null over the page view number, a running aggregate of the cookie's own
    window. Two sorts. Elsewhere they are the first values of windows over (cookie,
    session_number) and (cookie, touch_number): Postgres and Redshift have no arg_max.
    The two give the same rows: a session starts at its first event, a touch is the first
    page view of its touch number, and event_id orders the page views of one instant.
    (last_value(... ignore nulls) would give them too, but DuckDB searches back for the
    last non-null value row by row: 2.9 s for one cookie of 800 k page views with a single
    touch, against 0.24 s by arg_max.) -#}
{{
    config(
        materialized='incremental',
        unique_key='cookie_key',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_cookies_changed') }}
-- depends_on: {{ ref('stg_pings__pageviews') }}
-- depends_on: {{ ref('stg_ops__batches_new') }}
{%- set carry_in_cookie_window = webfunnel.window_arg_max() -%}
{%- set classified_columns -%}
    event_id, cookie, cookie_key, created_at, url, url_host, url_path, referrer_host,
    utm_source, utm_medium, utm_campaign, is_touch, touch_channel, touch_channel_group,
    device_class, browser, os, batch_id, partition_at
{%- endset %}
with

int_pageviews_classified as (

    {% if is_incremental() %}
        select {{ classified_columns }}
        from {{ this }}
        where
            {{ webfunnel.changed_cookie_rows(this, ref('int_cookies_changed')) }}
            and event_id not in (
                select event_id from {{ ref('stg_pings__pageviews') }}
                where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new')) }}
            )

        union all

        select {{ classified_columns }}
        from {{ ref('int_pageviews_classified') }}
        where
            not is_bot
            and {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new')) }}
    {% else %}
        select {{ classified_columns }}
        from {{ ref('int_pageviews_classified') }}
        where not is_bot
    {% endif %}

),

ordered as (

    select
        *,
        lag(created_at) over (
            partition by cookie order by created_at, event_id
        ) as previous_created_at,
        sum(case when is_touch then 1 else 0 end) over (
            partition by cookie order by created_at, event_id
            rows between unbounded preceding and current row
        ) as touch_number,
        row_number() over (
            partition by cookie order by created_at, event_id
        ) as pageview_number

    from int_pageviews_classified

),

flagged as (

    select
        *,
        case
            when previous_created_at is null then 1
            when created_at > {{ dbt.dateadd('minute', var('session_timeout_minutes'), 'previous_created_at') }}
                then 1
            else 0
        end as is_session_start

    from ordered

),

numbered as (

    select
        *,
        {% if carry_in_cookie_window %}
            -- the latest session start and the latest touch at or before each page view,
            -- in the pass that numbers the sessions
            arg_max_null(event_id, case when is_session_start = 1 then pageview_number end) over (
                partition by cookie order by created_at, event_id
                rows between unbounded preceding and current row
            ) as session_first_event_id,
            arg_max_null(touch_channel, case when is_touch then pageview_number end) over (
                partition by cookie order by created_at, event_id
                rows between unbounded preceding and current row
            ) as carried_channel,
            arg_max_null(touch_channel_group, case when is_touch then pageview_number end) over (
                partition by cookie order by created_at, event_id
                rows between unbounded preceding and current row
            ) as carried_channel_group,
        {% endif %}
        sum(is_session_start) over (
            partition by cookie order by created_at, event_id
            rows between unbounded preceding and current row
        ) as session_number

    from flagged

),

carried as (

    {% if carry_in_cookie_window %}
        select * from numbered
    {% else %}
        select
            *,
            first_value(event_id) over (
                partition by cookie, session_number order by created_at, event_id
                rows between unbounded preceding and unbounded following
            ) as session_first_event_id,
            first_value(touch_channel) over (
                partition by cookie, touch_number order by created_at, event_id
                rows between unbounded preceding and unbounded following
            ) as carried_channel,
            first_value(touch_channel_group) over (
                partition by cookie, touch_number order by created_at, event_id
                rows between unbounded preceding and unbounded following
            ) as carried_channel_group

        from numbered
    {% endif %}

),

final as (

    select
        event_id,
        cookie,
        cookie_key,
        {{ dbt.hash(dbt.concat(['cookie', "'|'", 'session_first_event_id'])) }} as session_id,
        session_number,
        pageview_number,
        is_session_start = 1 as is_session_start,
        created_at,
        url,
        url_host,
        url_path,
        referrer_host,
        utm_source,
        utm_medium,
        utm_campaign,
        is_touch,
        touch_channel,
        touch_channel_group,
        case when touch_number = 0 then 'direct' else carried_channel end as channel,
        case when touch_number = 0 then 'Direct' else carried_channel_group end as channel_group,
        device_class,
        browser,
        os,
        batch_id,
        partition_at,
        -- the invocation that wrote the row (macro built_in_this_invocation)
        {{ webfunnel.invocation_started_at() }} as built_at

    from carried

)

select * from final
