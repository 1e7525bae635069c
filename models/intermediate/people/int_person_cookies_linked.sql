{#- The cookies linked to a person (CONTRACT §2, retention): the signup cookie (of the
    person's first signup, as for the funnel; a later signup from another cookie does not
    link it) and the cookies that logged in with the person's email.

    Incrementally, the persons with a row of the new batches in either input (a signup, or
    a login) are recomputed whole: no other person's first signup or logins changed (a
    delivery that moves an event to another person or cookie is a conflicting redelivery,
    followed by a full refresh: ingest/pipeline.py). -#}
{{
    config(
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('stg_ops__batches_new') }}
-- depends_on: {{ ref('stg_signups__signups') }}
with

{% if is_incremental() %}
persons_changed as (

    select person_id from {{ ref('stg_signups__signups') }}
    where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new')) }}

    union

    select person_id from {{ ref('stg_accounts__events') }}
    where event_type = 'login' and {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new')) }}

),
{% endif %}

int_persons_signed_up as (

    select * from {{ ref('int_persons_signed_up') }}
    {% if is_incremental() %}
        where person_id in (select person_id from persons_changed)
    {% endif %}

),

stg_accounts__events as (

    select * from {{ ref('stg_accounts__events') }}
    {% if is_incremental() %}
        where person_id in (select person_id from persons_changed)
    {% endif %}

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
