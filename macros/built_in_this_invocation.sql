{#- The start of this dbt invocation (dbt's run_started_at), as a timestamp literal: the
    same in every model of one invocation, another in the next. -#}
{% macro invocation_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- A filter keeping the rows of int_pageviews_sessionized that this dbt invocation wrote:
    `built_at = invocation_started_at()`.

    The sessionization rewrites every row of each cookie it recomputes (the changed cookies
    and any cookie sharing a lookup key with one), so the rows it wrote in this invocation
    are exactly those cookies' rows, whole. They are appended at the end of the table, and
    the min/max statistics of built_at let DuckDB skip every other row group, where finding
    the changed cookies by their keys reads the cookie_key of every row (20 M at 14 days).
    The per-cookie models read their input so, and replace the cookies they read (their
    delete+insert takes the keys of the rows computed). When the sessionization did not
    run in the same invocation (a `dbt build --select` by hand that leaves it out), the
    filter keeps nothing and those models change nothing: never rows of a cookie computed
    from part of its page views. -#}
{% macro built_in_this_invocation() -%}
    built_at = {{ webfunnel.invocation_started_at() }}
{%- endmacro %}
