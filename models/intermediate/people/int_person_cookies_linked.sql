{#- The cookies linked to a person: the cookies of its signups and the cookies that
    logged in with the person's email (CONTRACT §2, retention). -#}
with

stg_signups__signups as (

    select * from {{ ref('stg_signups__signups') }}

),

stg_accounts__events as (

    select * from {{ ref('stg_accounts__events') }}

),

links as (

    select person_id, cookie from stg_signups__signups
    union
    select person_id, cookie from stg_accounts__events
    where event_type = 'login'

),

final as (

    select distinct
        person_id,
        cookie

    from links

)

select * from final
