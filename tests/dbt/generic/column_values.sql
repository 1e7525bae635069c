{#- A model's column rules, checked in one test: the columns that must not be null, the
    columns (or expressions) whose values must be unique, and the columns whose values must
    be one of a list (nulls pass the last two, as in dbt's unique and accepted_values).
    One dbt node and one scan per model, where dbt's not_null, unique and accepted_values
    tests are a node and a scan per column: in an hourly run, dbt's own work per node, not
    the query, was most of their cost (25 of these cover 77 not-null, 22 unique and 12
    accepted-values columns).

    Returns one row per column and rule that fails: the rule, how many rows break it (for
    unique, the rows beyond the first of each repeated value) and, for accepted values, the
    smallest value that is not accepted. The failure count dbt reports is the number of rows
    that break a rule. The rows a scoped hourly run reads are chosen by get_where_subquery
    (test_scope.sql), as for any generic row test; a key filter keeps every row of a key, so
    the unique rule on the key still sees a duplicate between a changed and an unchanged row.
    `unique` takes SQL expressions, as dbt's unique test takes its column_name; the other
    two take column names. -#}
{% test column_values(model, not_null=[], unique=[], accepted_values={}) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
{%- set checks = [] %}
{%- set counts = [] %}
{%- for column in not_null %}
    {%- do counts.append('count(*) - count(' ~ adapter.quote(column) ~ ') as failing_' ~ checks | length) %}
    {%- do checks.append((column, 'not null', none)) %}
{%- endfor %}
{%- for expression in unique %}
    {%- do counts.append(
        'count(' ~ expression ~ ') - count(distinct ' ~ expression ~ ') as failing_'
        ~ checks | length
    ) %}
    {%- do checks.append((expression, 'unique', none)) %}
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
    '{{ column | replace("'", "''") }}' as column_name,
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
