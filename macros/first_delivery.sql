{#- The deliveries → ranked → final CTEs of a staging model that keeps one row per record:
    the first delivery loaded wins (earliest partition, then batch id, then row of the file).

    `deliveries_cte` names a CTE with, in this order (stored rows are added by position),
    the `id_columns`, the `lookup_column` unless it is one of them, the `content_columns`,
    batch_id, partition_at, file_row_number and `false as is_stored`.
    Incrementally it holds only the new batches' rows; the rows already stored for their
    lookup values join them with their id, ordering and `conflict_columns` only (looked up by
    `lookup_column`, its other columns fetched by row id for the matches only: nulls for the
    other content), and only winners come out: a new record, or a delivery that comes
    before the stored one. A reloaded batch ties with
    its own stored row, and the stored row stays. Deliveries compete per id, so a stored row
    that only shares the lookup value (another record of the same person, or another event
    whose event_key collides) is a stored row of another record and never wins.

    For events the id is event_id and the lookup event_key (`event_key(event_id)`, 64 bits
    of its MD5 on DuckDB); for CRM contact states the id is (person_id, updated_at) and the
    lookup person_id.

    content_columns: [(name, type), ...], the columns between the id and lookup columns and
    batch_id.

    conflict_columns: the columns a winner must share with the stored delivery it replaces
    for the incremental models to stay exact (those the cookie, person and hour of a row
    come from). With any, the stored values of these columns are fetched too, and a last
    column, is_conflicting_redelivery, is true on a winner that replaced a stored delivery with
    other values in any of them. A redelivery is the same row (CONTRACT §1), so this takes a
    client that sent one event id twice with another cookie, person or time: the rows of
    the old cookie or hour would stay in the incremental models, so the pipeline follows
    such a build with a full refresh (ingest/pipeline.py, conflicting_redeliveries). A full
    build flags nothing: it has nothing stored to replace. -#}
{% macro first_delivery_ctes(
    deliveries_cte,
    content_columns,
    id_columns=['event_id'],
    lookup_column='event_key',
    conflict_columns=[]
) -%}
{%- set key_columns = id_columns + ([] if lookup_column in id_columns else [lookup_column]) -%}
deliveries as (

    select * from {{ deliveries_cte }}

    {% if is_incremental() %}
        union all

        select
            {%- for name in key_columns %}
            {{ name }},
            {%- endfor %}
            {%- for name, type in content_columns %}
            {%- if name in conflict_columns %}
            {{ name }},
            {%- else %}
            cast(null as {{ type }}) as {{ name }},
            {%- endif %}
            {%- endfor %}
            batch_id,
            partition_at,
            file_row_number,
            true as is_stored

        from {{ this }}
        -- by row id: the lookup column is read for every stored row, the others only for
        -- the matches, mostly none (macro rows_with_keys)
        where {{ webfunnel.rows_with_keys(
            this, lookup_column, 'select ' ~ lookup_column ~ ' from ' ~ deliveries_cte
        ) }}
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by {{ id_columns | join(', ') }}
            order by partition_at, batch_id, file_row_number, is_stored desc
        ) as delivery_rank
        {%- if is_incremental() and conflict_columns %},
            -- the stored delivery's values, beside each delivery of its record
            max(case when is_stored then 1 else 0 end) over (
                partition by {{ id_columns | join(', ') }}
            ) as has_stored
            {%- for name in conflict_columns %},
            max(case when is_stored then {{ name }} end) over (
                partition by {{ id_columns | join(', ') }}
            ) as stored_{{ name }}
            {%- endfor %}
        {%- endif %}

    from deliveries

),

final as (

    select
        {%- for name in key_columns %}
        {{ name }},
        {%- endfor %}
        {%- for name, _ in content_columns %}
        {{ name }},
        {%- endfor %}
        batch_id,
        partition_at,
        file_row_number
        {%- if conflict_columns %},
        {% if is_incremental() -%}
            case
                when has_stored = 0 then false
                {%- for name in conflict_columns %}
                when stored_{{ name }} <> {{ name }} then true
                when stored_{{ name }} is null and {{ name }} is not null then true
                when stored_{{ name }} is not null and {{ name }} is null then true
                {%- endfor %}
                else false
            end
        {%- else -%}
            false
        {%- endif %} as is_conflicting_redelivery
        {%- endif %}

    from ranked
    where delivery_rank = 1 and not is_stored

)
{%- endmacro %}


{#- The incremental strategy of the staging models that keep one row per event
    (first_delivery_ctes), `incremental_strategy='first_deliveries'`: delete+insert by the
    unique key, [lookup key, id], with the delete confined to the stored rows at or after
    the earliest partition written. A stored delivery that a written one replaces comes
    after it (the partition decides first), so none is missed; and the table holds its rows
    about in partition order, so min/max statistics skip the row groups before that
    partition instead of every stored key being read (0.2 s at 41 M pings, growing with the
    history, for one hour of new events).

    A stored row is deleted when each key column's value is among the written rows': the
    lookup key, an integer, narrows the rows first, and the id decides. The key is a
    function of the id, so a row whose id was written has a written key too, and this is
    exactly "its id was written": a stored event of another id that shares the key (macro
    event_key) stays. Plain SQL, the same on DuckDB, PostgreSQL and Redshift. -#}
{% macro get_incremental_first_deliveries_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where
        {%- for key in keys %}
        {{ key }} in (select {{ key }} from {{ source }})
        and
        {%- endfor %} partition_at >= (select min(partition_at) from {{ source }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}
