{#- Whether the adapter has arg_max as a window aggregate, so that a value can be carried
    forward within one window pass: arg_max_null(value, case when ... then row_number end)
    over (... rows between unbounded preceding and current row) is the value at the latest
    row that qualifies, null or not (int_pageviews_sessionized). DuckDB computes it as a running aggregate,
    in time linear in the rows. Postgres and Redshift have no arg_max. -#}
{% macro window_arg_max() -%}
    {{ return(adapter.dispatch('window_arg_max', 'webfunnel')()) }}
{%- endmacro %}

{% macro default__window_arg_max() -%}
    {{ return(false) }}
{%- endmacro %}

{% macro duckdb__window_arg_max() -%}
    {{ return(true) }}
{%- endmacro %}
