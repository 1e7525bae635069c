{#- A person's first signup (ties broken by event_id); its cookie is the person's
    cookie for the funnel. -#}
with

stg_signups__signups as (

    select * from {{ ref('stg_signups__signups') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id order by signed_up_at, event_id
        ) as signup_number

    from stg_signups__signups

),

final as (

    select
        person_id,
        cookie,
        signed_up_at,
        event_id as signup_event_id

    from ranked
    where signup_number = 1

)

select * from final
