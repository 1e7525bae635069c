{#- The batches the incremental models must take in: those loaded since the last
    successful build (a build that fails or is killed records nothing, so the next one takes
    the same batches again), plus, for a backfill, every batch of the partitions in
    [var('backfill_start'), var('backfill_end')):

        dbt build --vars '{backfill_start: "2026-11-03", backfill_end: "2026-11-04"}'

    With each its partition, which lets the models skip earlier row groups when they read
    the new batches' rows (macro new_batch_rows).
-#}
with

source as (

    select * from {{ source('ops', 'batch_state_transitions') }}

),

build_state as (

    select * from {{ source('ops', 'build_state') }}

),

renamed as (

    select
        batch_id,
        -- a batch is one file of one partition: every transition of it has the same
        min(partition_at) as partition_at

    from source
    where
        state = 'succeeded'
        and (
            transition_id > (
                select coalesce(max(built_through_transition_id), 0) from build_state
            )
            {% if var('backfill_start', none) is not none %}
                or (
                    partition_at >= cast('{{ var("backfill_start") }}' as {{ dbt.type_timestamp() }})
                    and partition_at < cast('{{ var("backfill_end") }}' as {{ dbt.type_timestamp() }})
                )
            {% endif %}
        )
    group by batch_id

)

select * from renamed
