{#- The current CRM state of each person: the row with the latest updated_at wins, so a
    correction that removes a stage removes it here too. -#}
with

stg_crm__contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id order by updated_at desc
        ) as state_recency

    from stg_crm__contacts

),

final as (

    select
        person_id,
        demo_at,
        trial_at,
        customer_at,
        updated_at

    from ranked
    where state_recency = 1

)

select * from final
