{#- Persons whose marts rows may change in this run: new signups, CRM states or account
    events, or new pings on a cookie linked to them. Incremental models recompute exactly
    these (all of their history), which keeps them equal to a full rebuild. -#}
with

stg_ops__batches_new as (

    select * from {{ ref('stg_ops__batches_new') }}

),

stg_signups__signups as (

    select * from {{ ref('stg_signups__signups') }}

),

stg_crm__contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

stg_accounts__events as (

    select * from {{ ref('stg_accounts__events') }}

),

stg_pings__pageviews as (

    select * from {{ ref('stg_pings__pageviews') }}

),

int_person_cookies_linked as (

    select * from {{ ref('int_person_cookies_linked') }}

),

cookies_with_new_pings as (

    select distinct cookie
    from stg_pings__pageviews
    where {{ webfunnel.new_batch_rows('stg_ops__batches_new') }}

),

changed as (

    select person_id from stg_signups__signups
    where {{ webfunnel.new_batch_rows('stg_ops__batches_new') }}

    union

    select person_id from stg_crm__contacts
    where {{ webfunnel.new_batch_rows('stg_ops__batches_new') }}

    union

    select person_id from stg_accounts__events
    where {{ webfunnel.new_batch_rows('stg_ops__batches_new') }}

    union

    select int_person_cookies_linked.person_id
    from int_person_cookies_linked
    inner join cookies_with_new_pings
        on int_person_cookies_linked.cookie = cookies_with_new_pings.cookie

),

final as (

    select distinct person_id from changed

)

select * from final
