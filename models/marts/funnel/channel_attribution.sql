with

int_conversions_credited as (

    select * from {{ ref('int_conversions_credited') }}

),

final as (

    select
        attribution_model,
        channel,
        conversion_stage,
        cast(converted_at as date) as conversion_date,
        cast(sum(credit_exact) as double precision) as conversions

    from int_conversions_credited
    group by attribution_model, channel, conversion_stage, cast(converted_at as date)

)

select * from final
