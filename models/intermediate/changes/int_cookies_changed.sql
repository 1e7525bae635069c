{#- Cookies whose marts rows may change in this run: new pings, new logins, or a signup of
    a changed person (its funnel columns or its owner may change), with their lookup keys
    (macro cookie_key), by which the per-cookie models read their rows. -#}
with

stg_ops__batches_new as (

    select * from {{ ref('stg_ops__batches_new') }}

),

stg_pings__pageviews as (

    select * from {{ ref('stg_pings__pageviews') }}

),

stg_accounts__events as (

    select * from {{ ref('stg_accounts__events') }}

),

stg_signups__signups as (

    select * from {{ ref('stg_signups__signups') }}

),

int_persons_changed as (

    select * from {{ ref('int_persons_changed') }}

),

changed as (

    select cookie from stg_pings__pageviews
    where {{ webfunnel.new_batch_rows('stg_ops__batches_new') }}

    union

    select cookie from stg_accounts__events
    where {{ webfunnel.new_batch_rows('stg_ops__batches_new') }} and event_type = 'login'

    union

    select cookie from stg_signups__signups
    where person_id in (select person_id from int_persons_changed)

),

final as (

    select distinct
        cookie,
        {{ webfunnel.cookie_key('cookie') }} as cookie_key

    from changed

)

select * from final
