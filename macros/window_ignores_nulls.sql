{#- Whether the adapter's window functions take IGNORE NULLS (last_value(x ignore nulls)),
    so a value can be carried forward within one window pass (int_pageviews_sessionized).
    Postgres has no IGNORE NULLS. Redshift has it, but cannot be run here: it keeps the
    portable form, which the Postgres checks run. -#}
{% macro window_ignores_nulls() -%}
    {{ return(adapter.dispatch('window_ignores_nulls', 'webfunnel')()) }}
{%- endmacro %}

{% macro default__window_ignores_nulls() -%}
    {{ return(false) }}
{%- endmacro %}

{% macro duckdb__window_ignores_nulls() -%}
    {{ return(true) }}
{%- endmacro %}
