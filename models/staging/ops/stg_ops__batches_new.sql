{#- The batches loaded since the last successful build: what the incremental models must
    take in. A build that fails (or is killed) records nothing, so the next one takes the
    same batches again, plus any newer ones. -#}
with

source as (

    select * from {{ source('ops', 'batch_state_transitions') }}

),

build_state as (

    select * from {{ source('ops', 'build_state') }}

),

renamed as (

    select distinct batch_id
    from source
    where
        state = 'succeeded'
        and transition_id > (
            select coalesce(max(built_through_transition_id), 0) from build_state
        )

)

select * from renamed
