{#- Every dbt invocation against the DuckDB working database leaves a row in
    ops.dbt_invocations: started by on-run-start, finished by on-run-end. The publisher
    (ingest/publish.py) copies only the changed cookies' rows into the published file when
    exactly one unselective, incremental `dbt build` ran, to the end, since the last publish;
    any other invocation (a full refresh, a `dbt run`, one killed before its end) makes it
    copy every mart. The server targets publish nothing, so they record nothing. -#}
{% macro record_invocation_start() -%}
    {%- if target.type == 'duckdb' and execute -%}
        create schema if not exists ops;
        create table if not exists ops.dbt_invocations (
            invocation_id varchar primary key,
            command varchar,
            full_refresh boolean,
            started_at timestamp,
            finished_at timestamp
        );
        -- the models' stamp of the rows they write (macro invocation_started_at): the
        -- publish finds the rows of marts.pageviews, a view, that this build rewrote by it
        alter table ops.dbt_invocations add column if not exists rows_built_at timestamp;
        insert into ops.dbt_invocations
            (invocation_id, command, full_refresh, started_at, finished_at, rows_built_at)
        values (
            '{{ invocation_id }}', '{{ flags.WHICH }}', {{ 'true' if flags.FULL_REFRESH else 'false' }},
            now()::timestamp, null, {{ webfunnel.invocation_started_at() }}
        )
    {%- endif -%}
{%- endmacro %}

{% macro record_invocation_end() -%}
    {%- if target.type == 'duckdb' and execute -%}
        update ops.dbt_invocations set finished_at = now()::timestamp
        where invocation_id = '{{ invocation_id }}'
    {%- endif -%}
{%- endmacro %}
