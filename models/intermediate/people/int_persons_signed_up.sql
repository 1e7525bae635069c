{#- A person's first signup (ties broken by event_id); its cookie is the person's
    cookie for the funnel.

    Incrementally, the persons with a signup row written by this run (a new signup, or a
    delivery that replaced one) are recomputed whole; no other person's signups changed. -#}
{{
    config(
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('stg_ops__batches_new') }}
with

stg_signups__signups as (

    select * from {{ ref('stg_signups__signups') }}
    {% if is_incremental() %}
        where person_id in (
            select person_id from {{ ref('stg_signups__signups') }}
            where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new')) }}
        )
    {% endif %}

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
