{#- A model's column rules, checked in one test: the columns that must not be null, and the
    columns whose values must be one of a list (nulls pass, as in dbt's accepted_values).
    One dbt node and one scan per model, where dbt's not_null and accepted_values tests are
    a node and a scan per column: in an hourly run, dbt's own work per node, not the query,
    was most of their cost (81 not_null tests became 25 of these, then 12 accepted_values
    tests joined them).

    Returns one row per column and rule that fails: the rule, how many rows break it and,
    for accepted values, the smallest value that is not accepted. The failure count dbt
    reports is the number of rows that break a rule. The rows a scoped hourly run reads are
    chosen by get_where_subquery (test_scope.sql), as for any generic row test. -#}
{% test column_values(model, not_null=[], accepted_values={}) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
{%- set checks = [] %}
{%- set counts = [] %}
{%- for column in not_null %}
    {%- do counts.append('count(*) - count(' ~ adapter.quote(column) ~ ') as failing_' ~ checks | length) %}
    {%- do checks.append((column, 'not null', none)) %}
{%- endfor %}
{%- for column, values in accepted_values.items() | sort %}
    {%- set quoted = [] %}
    {%- for value in values %}
        {%- do quoted.append("'" ~ (value | string | replace("'", "''")) ~ "'") %}
    {%- endfor %}
    {%- set unaccepted = adapter.quote(column) ~ ' not in (' ~ quoted | join(', ') ~ ')' %}
    {%- set index = checks | length %}
    {%- do counts.append('count(case when ' ~ unaccepted ~ ' then 1 end) as failing_' ~ index) %}
    {%- do counts.append(
        'min(case when ' ~ unaccepted ~ ' then cast(' ~ adapter.quote(column) ~ ' as '
        ~ dbt.type_string() ~ ') end) as example_' ~ index
    ) %}
    {%- do checks.append((column, 'accepted values', 'example_' ~ index)) %}
{%- endfor %}
with counts as (
    select
        {{ counts | join(',\n        ') }}
    from {{ model }}
)
{%- for column, rule, example in checks %}
select
    '{{ column }}' as column_name,
    '{{ rule }}' as rule,
    failing_{{ loop.index0 }} as failing_rows,
    {{ example if example else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as example_value
from counts
where failing_{{ loop.index0 }} > 0
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{% endtest %}
