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
    {#- the rows of this run's new batches (macro new_batch_rows), for the staging tests -#}
    {%- set new_batch_rows = webfunnel.new_batch_rows(
        webfunnel.model_relation('stg_ops__batches_new')
    ) -%}
    {%- if name in ('stg_pings__pageviews', 'int_pageviews_classified') -%}
        {#- upstream of int_cookies_changed: the events of this run's new batches, by a
            subquery on stg_ops__batches_new (macro new_batch_rows). DuckDB turns the few
            ids it returns into a filter of the table scan, under the view too, so the
            other columns are read only for the new batches' rows: over 21 M staged events,
            the relationships test to stg_pings__user_agents 0.03 s, the unique test 0.08 s
            and the row test of int_pageviews_classified 0.03 s, against 0.12, 0.16 and
            0.08 s with the ids as literals, which stayed a filter above a scan of every
            row's columns. The bound on partition_at skips the earlier row groups. -#}
        {%- if name == 'int_pageviews_classified' or webfunnel.current_test_name() != 'unique' -%}
            {#- a row test (column_values, relationships) reads the rows this build
                wrote, which are the new batches' rows: an event whose first delivery is an
                older batch's keeps the row it had, tested when it was written. So
                stg_pings__pageviews' column_values holds no unique rule: its unique test
                stays apart, for the scope below. int_pageviews_classified (a view, row
                tests only) is a row-for-row projection of stg_pings__pageviews, so the
                same rows -#}
            {%- do return(new_batch_rows) -%}
        {%- endif -%}
        {#- unique: every row of the new batches' events, found by their event_key (all
            rows of one event_id share it), and fetched by row id (macro rows_with_keys:
            the event ids of the other rows are not read) -#}
        {%- do return(webfunnel.new_batch_event_rows(relation, new_batch_rows)) -%}
    {%- elif name in ('stg_accounts__events', 'stg_signups__signups') -%}
        {#- staged like the pings (strategy first_deliveries: the rows this run writes are
            new batches' rows), but one column_values test holds the row rules and the
            unique rule on event_id: every row of the new batches' events, as the unique
            test of stg_pings__pageviews reads. Whole, it grows with the history: 0.22 s
            for the account events at 28 days -#}
        {%- do return(webfunnel.new_batch_event_rows(relation, new_batch_rows)) -%}
    {%- elif name in webfunnel.per_person_models() -%}
        {#- recomputed per changed person (delete+insert on person_id, reading only the
            persons of int_persons_changed): those persons' rows, fetched by row id. Their
            conversion ids are the person's (md5 of person and stage), so a repeated id
            lies within one person. Whole, the relationships test of the credits read
            every conversion and every credit: 0.19-0.54 s at 28 days -#}
        {%- do return(webfunnel.rows_with_keys(
            relation, 'person_id',
            'select person_id from ' ~ webfunnel.model_relation('int_persons_changed')
        )) -%}
    {%- elif name == 'stg_crm__contacts' -%}
        {#- the contact states this run wrote (the new batches' rows, nulls included), and
            every stored state of their persons: its unique rule is on (person_id,
            updated_at), so a duplicate is always within one person. The whole table grows
            with the history: 0.3-0.4 s a run at 28 days -#}
        {%- do return(
            '(' ~ new_batch_rows ~ ' or person_id in (select person_id from ' ~ relation
            ~ ' where ' ~ new_batch_rows ~ '))'
        ) -%}
    {%- elif name in webfunnel.per_cookie_models() -%}
        {#- recomputed per changed cookie, found and replaced by its lookup key (delete+insert
            on cookie_key): every row of a key, so every row of the changed cookies, and of
            any cookie sharing a key with one (recomputed with them: macro cookie_key) -#}
        {%- if graph.nodes['model.webfunnel.' ~ name].config.materialized == 'view' -%}
            {#- a view (marts.pageviews on DuckDB) has no row ids, and a key filter would
                read the changed cookies' deleted rows' row groups of the table under it
                (1.7 s cold at 28 days, against 0.25 s): the rows this invocation wrote, by
                their stamp (macro built_in_this_invocation), which are the same -#}
            {%- do return(webfunnel.built_in_this_invocation()) -%}
        {%- endif -%}
        {%- do return(webfunnel.changed_cookie_rows(
            relation, webfunnel.model_relation('int_cookies_changed')
        )) -%}
    {%- elif name in ('int_cohort_members_assigned', 'int_cohort_activity_joined') -%}
        {#- recomputed per changed member (delete+insert on member_key): the changed
            cookies' and persons' rows, every cohort of each, found by their keys and
            fetched by row id (macros changed_member_keys, rows_with_keys) -#}
        {%- do return(webfunnel.rows_with_keys(
            relation, 'member_key', webfunnel.changed_member_keys(
                webfunnel.model_relation('int_cookies_changed'),
                webfunnel.model_relation('int_persons_changed')
            )
        )) -%}
    {%- endif -%}
    {%- do return(none) -%}
{%- endmacro %}

{% macro per_cookie_models() -%}
    {%- do return(['int_pageviews_sessionized', 'pageviews', 'sessions', 'visitors']) -%}
{%- endmacro %}

{% macro per_person_models() -%}
    {%- do return(['int_conversions_unioned', 'int_conversions_credited']) -%}
{%- endmacro %}

{% macro new_batch_event_rows(relation, new_batch_rows) -%}
    {#- every row of the events of this run's new batches, found by their event_key (all
        rows of one event_id share it) and fetched by row id (macro rows_with_keys) -#}
    {%- do return(webfunnel.rows_with_keys(
        relation, 'event_key', 'select event_key from ' ~ relation ~ ' where ' ~ new_batch_rows
    )) -%}
{%- endmacro %}

{% macro current_test_model() -%}
    {#- the name of the model the test being compiled is attached to, none outside a test -#}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- do return(attached.split('.')[-1] if attached else none) -%}
{%- endmacro %}

{% macro current_test_name() -%}
    {#- the generic test being compiled (unique, not_null, ...), none outside a test -#}
    {%- set metadata = model.get('test_metadata') if model is mapping else none -%}
    {%- do return(metadata.get('name') if metadata else none) -%}
{%- endmacro %}

{% macro model_relation(name) -%}
    {#- a model's relation from the graph (ref() here would be a dependency the test lacks) -#}
    {%- set node = graph.nodes['model.webfunnel.' ~ name] -%}
    {%- do return(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias
    )) -%}
{%- endmacro %}

{#- dbt's relationships test, with the parent confined like the child in a scoped run when
    both are recomputed per changed cookie (pageviews -> sessions, pageviews -> visitors)
    or both per changed person (int_conversions_credited -> int_conversions_unioned): a
    changed cookie's page view refers to its own cookie's session and visitor row, a
    changed person's credit to its own person's conversion, which the same build
    recomputed. A reference to another cookie's or person's row would fail the scoped
    test, never pass it. Other parents are read whole. -#}
{% macro default__test_relationships(model, column_name, to, field) %}
    {%- set tested = webfunnel.current_test_model() -%}
    {%- set per_cookie = webfunnel.per_cookie_models() -%}
    {%- set per_person = webfunnel.per_person_models() -%}
    {%- set scope = none -%}
    {%- if (tested in per_cookie and to.identifier in per_cookie)
        or (tested in per_person and to.identifier in per_person) -%}
        {%- set scope = webfunnel.changed_rows_condition(to) -%}
    {%- endif -%}
    {%- set parent = '(select * from ' ~ to ~ ' where ' ~ scope ~ ') dbt_parent' if scope else to -%}

with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ parent }}
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null

{% endmacro %}
