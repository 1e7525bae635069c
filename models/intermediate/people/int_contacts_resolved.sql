{#- The current CRM state of each person: the row with the latest updated_at wins, so a
    correction that removes a stage removes it here too.

    Incrementally, the persons with a CRM state written by this run are recomputed whole;
    no other person's states changed. -#}
{{
    config(
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('stg_ops__batches_new') }}
with

stg_crm__contacts as (

    select * from {{ ref('stg_crm__contacts') }}
    {% if is_incremental() %}
        where person_id in (
            select person_id from {{ ref('stg_crm__contacts') }}
            where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new')) }}
        )
    {% endif %}

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
