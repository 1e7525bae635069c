{#- One row per conversion: a signed-up person reaching a stage, at the stage's time.
    Stages are counted independently (a customer without a trial date is a customer).

    Incrementally, the changed persons (int_persons_changed: every person with a new signup
    or CRM state among them) are recomputed whole, keyed on the person, so a stage a CRM
    correction removed is deleted with the person's other conversions. -#}
{{
    config(
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_persons_changed') }}
with

int_persons_signed_up as (

    select * from {{ ref('int_persons_signed_up') }}
    {% if is_incremental() %}
        where person_id in (select person_id from {{ ref('int_persons_changed') }})
    {% endif %}

),

int_contacts_resolved as (

    select * from {{ ref('int_contacts_resolved') }}

),

persons as (

    select
        int_persons_signed_up.person_id,
        int_persons_signed_up.cookie,
        int_persons_signed_up.signed_up_at,
        int_contacts_resolved.demo_at,
        int_contacts_resolved.trial_at,
        int_contacts_resolved.customer_at

    from int_persons_signed_up
    left join int_contacts_resolved
        on int_persons_signed_up.person_id = int_contacts_resolved.person_id

),

unioned as (

    select person_id, cookie, 'signup' as conversion_stage, signed_up_at as converted_at
    from persons

    union all

    select person_id, cookie, 'demo' as conversion_stage, demo_at as converted_at
    from persons
    where demo_at is not null

    union all

    select person_id, cookie, 'trial' as conversion_stage, trial_at as converted_at
    from persons
    where trial_at is not null

    union all

    select person_id, cookie, 'customer' as conversion_stage, customer_at as converted_at
    from persons
    where customer_at is not null

),

final as (

    select
        {{ dbt.hash(dbt.concat(['person_id', "'|'", 'conversion_stage'])) }} as conversion_id,
        person_id,
        cookie,
        conversion_stage,
        converted_at

    from unioned

)

select * from final
