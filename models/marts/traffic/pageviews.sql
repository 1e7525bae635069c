{#- One row per human page view: a projection of int_pageviews_sessionized.

    On DuckDB it is a view in the working database. The pipeline publishes the marts to the
    file BI tools read, and the publish writes this view's rows there as a table, all of
    them or the changed cookies' (ingest/publish.py), without the view's built_at stamp. A
    table here would be a second copy of the sessionized rows: 2.7 GB of the 28-day bench's
    9.9 GB working database, a copy of 40 M rows in each full build (51 s) and a delete and
    insert by cookie key in each hourly one. Elsewhere (PostgreSQL, Redshift), BI tools
    query the warehouse itself: there it is an incremental table, distributed and sorted
    for them (dbt_project.yml). -#}
{{
    config(
        materialized=('view' if target.type == 'duckdb' else 'incremental'),
        unique_key='cookie_key',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_cookies_changed') }}
with

int_pageviews_sessionized as (

    select * from {{ ref('int_pageviews_sessionized') }}
    {% if is_incremental() and config.get('materialized') == 'incremental' %}
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
        {% if config.get('materialized') == 'view' -%}
            -- when the row was written (macro built_in_this_invocation): how the publish
            -- and the scoped tests find the rows of the cookies a build recomputed. Not
            -- published
            built_at,
        {% endif -%}
        utm_campaign

    from int_pageviews_sessionized

)

select * from final
