{#- The deliveries → ranked → final CTEs of a staging model that keeps one row per event:
    the first delivery loaded wins (earliest partition, then batch id, then row of the file).

    `deliveries_cte` names a CTE with event_id, event_key (`event_key(event_id)`), the
    `content_columns`, batch_id, partition_at, file_row_number and `false as is_stored`.
    Incrementally it holds only the new batches' rows; the row each of their events already
    has joins them with its ordering columns only (looked up by event_key, not read whole:
    nulls for the content), and only winners come out: a new event, or a delivery that comes
    before the stored one. A reloaded batch ties with its own stored row, and the stored row
    stays. Deliveries compete per event_id, so a stored row that only shares the key (an MD5
    collision) is a stored row of another event and never wins.

    content_columns: [(name, type), ...], the columns between event_id and batch_id. -#}
{% macro first_delivery_ctes(deliveries_cte, content_columns) -%}
deliveries as (

    select * from {{ deliveries_cte }}

    {% if is_incremental() %}
        union all

        select
            event_id,
            event_key,
            {%- for name, type in content_columns %}
            cast(null as {{ type }}) as {{ name }},
            {%- endfor %}
            batch_id,
            partition_at,
            file_row_number,
            true as is_stored

        from {{ this }}
        where event_key in (select event_key from {{ deliveries_cte }})
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by partition_at, batch_id, file_row_number, is_stored desc
        ) as delivery_rank

    from deliveries

),

final as (

    select
        event_id,
        event_key,
        {%- for name, _ in content_columns %}
        {{ name }},
        {%- endfor %}
        batch_id,
        partition_at,
        file_row_number

    from ranked
    where delivery_rank = 1 and not is_stored

)
{%- endmacro %}
