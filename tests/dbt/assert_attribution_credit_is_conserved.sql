-- every model credits each conversion exactly once in total
with

conversions as (

    select conversion_stage, count(*) as conversions
    from {{ ref('int_conversions_unioned') }}
    group by conversion_stage

),

models as (

    select 'first_touch' as attribution_model
    union all select 'last_touch'
    union all select 'linear'
    union all select 'position_based'

),

credited as (

    select attribution_model, conversion_stage, sum(conversions) as credited
    from {{ ref('channel_attribution') }}
    group by attribution_model, conversion_stage

),

compared as (

    select
        models.attribution_model,
        conversions.conversion_stage,
        conversions.conversions,
        coalesce(credited.credited, 0) as credited

    from conversions
    cross join models
    left join credited
        on
            models.attribution_model = credited.attribution_model
            and conversions.conversion_stage = credited.conversion_stage

)

select * from compared
where abs(credited - conversions) > 0.000001
