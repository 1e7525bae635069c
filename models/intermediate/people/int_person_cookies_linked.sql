{#- The cookies linked to a person (CONTRACT §2, retention): the signup cookie (of the
    person's first signup, as for the funnel; a later signup from another cookie does not
    link it) and the cookies that logged in with the person's email. -#}
with

int_persons_signed_up as (

    select * from {{ ref('int_persons_signed_up') }}

),

stg_accounts__events as (

    select * from {{ ref('stg_accounts__events') }}

),

links as (

    select person_id, cookie from int_persons_signed_up
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
