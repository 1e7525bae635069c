{#- The funnel by first-visit cohort: visitors first seen that day, and how many of them
    reached each stage (at any time, stages counted independently). -#}
with

visitors as (

    select * from {{ ref('visitors') }}

),

final as (

    select
        first_seen_date as cohort_date,
        first_channel,
        device_class,
        count(*) as visitors,
        count(signed_up_at) as signups,
        count(demo_at) as demos,
        count(trial_at) as trials,
        count(customer_at) as customers

    from visitors
    group by first_seen_date, first_channel, device_class

)

select * from final
