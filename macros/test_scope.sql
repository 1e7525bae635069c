{#- Data tests of an hourly run check what the run changed; the full suite runs daily.

    dbt wraps the model a generic test reads in get_where_subquery(). Overridden here: when
    the pipeline runs an incremental build with WEBFUNNEL_TEST_SCOPE=changed (DuckDB only),
    the tests of the large incremental models read only the rows of the keys this run
    recomputed. A key filter keeps every row of a key, changed or not, so a `unique` test
    on the key still sees a duplicate between a changed and an unchanged row; what it cannot
    see is a violation among rows the run did not touch, which earlier runs tested. Every
    full refresh, backfill, plain `dbt build` (the variable unset) and at least one build a
    day (ingest/pipeline.py) run the whole suite. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set scope = webfunnel.changed_rows_condition(relation) -%}
    {%- if scope -%}
        {%- do conditions.append(scope) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{% macro changed_rows_condition(relation) -%}
    {#- none unless this is a scoped run; else the filter for this relation's changed keys -#}
    {%- if not execute or target.type != 'duckdb' -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- if env_var('WEBFUNNEL_TEST_SCOPE', 'all') != 'changed' -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set name = relation.identifier -%}
    {%- if name in ('stg_pings__pageviews', 'int_pageviews_classified') -%}
        {#- upstream of int_cookies_changed: the events of this run's new batches -#}
        {%- set batches = webfunnel.model_relation('stg_ops__batches_new') -%}
        {%- do return(
            'event_id in (select event_id from ' ~ relation ~ ' where batch_id in '
            ~ '(select batch_id from ' ~ batches ~ '))'
        ) -%}
    {%- elif name in ('int_pageviews_sessionized', 'pageviews', 'sessions', 'visitors') -%}
        {#- recomputed per changed cookie (delete+insert on the cookie) -#}
        {%- set cookies = webfunnel.model_relation('int_cookies_changed') -%}
        {%- do return('cookie in (select cookie from ' ~ cookies ~ ')') -%}
    {%- endif -%}
    {%- do return(none) -%}
{%- endmacro %}

{% macro model_relation(name) -%}
    {#- a model's relation from the graph (ref() here would be a dependency the test lacks) -#}
    {%- set node = graph.nodes['model.webfunnel.' ~ name] -%}
    {%- do return(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias
    )) -%}
{%- endmacro %}
