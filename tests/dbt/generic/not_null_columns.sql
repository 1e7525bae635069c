{#- A model's not-null columns, checked in one test: one dbt node and one scan per model,
    where a `not_null` test per column is a node and a scan each (an hourly run had 81 of
    them; dbt's own work per node, not the query, was most of their cost).

    Returns one row per column that has nulls, with their count; the failure count dbt
    reports is the number of null values, as the per-column tests would have summed to.
    The rows a scoped hourly run reads are chosen by get_where_subquery (test_scope.sql),
    as for any generic row test. -#}
{% test not_null_columns(model, columns) %}
{{ config(fail_calc='coalesce(sum(null_values), 0)') }}
with null_counts as (
    select
        {%- for column in columns %}
        count(*) - count({{ adapter.quote(column) }}) as nulls_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}
)
{%- for column in columns %}
select '{{ column }}' as column_name, nulls_{{ loop.index }} as null_values
from null_counts
where nulls_{{ loop.index }} > 0
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{% endtest %}
