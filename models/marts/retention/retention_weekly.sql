{#- Weekly retention: for each cohort (type, week) and each week since, the members active
    in week cohort_week + weeks_since. Every week up to the latest week with activity gets a
    row, zeros included, so a BI heatmap has no holes. The members' active weeks come joined
    to their cohorts (int_cohort_activity_joined, incremental): this counts them. -#}
with

int_cohort_members_assigned as (

    select * from {{ ref('int_cohort_members_assigned') }}

),

int_activity_weeks_unioned as (

    select * from {{ ref('int_activity_weeks_unioned') }}

),

int_cohort_activity_joined as (

    select * from {{ ref('int_cohort_activity_joined') }}

),

week_offsets as (

    -- 0 .. 1040 weeks (20 years)
    select cast(generated_number - 1 as integer) as weeks_since
    from ({{ dbt.generate_series(1041) }}) as series

),

latest_week as (

    select max(activity_week) as as_of_week
    from int_activity_weeks_unioned

),

cohorts as (

    select
        cohort_type,
        cohort_week,
        count(*) as cohort_size

    from int_cohort_members_assigned
    group by cohort_type, cohort_week

),

cells as (

    select
        cohorts.cohort_type,
        cohorts.cohort_week,
        week_offsets.weeks_since,
        cohorts.cohort_size

    from cohorts
    cross join latest_week
    inner join week_offsets
        on
            week_offsets.weeks_since = 0
            or {{ dbt.dateadd('day', '7 * week_offsets.weeks_since', 'cohorts.cohort_week') }}
            <= latest_week.as_of_week

),

member_activity as (

    select
        cohort_type,
        cohort_week,
        weeks_since,
        count(*) as active

    from int_cohort_activity_joined
    where weeks_since is not null
    group by cohort_type, cohort_week, weeks_since

),

final as (

    select
        cells.cohort_type,
        cells.cohort_week,
        cells.weeks_since,
        cells.cohort_size,
        coalesce(member_activity.active, 0) as active,
        cast(coalesce(member_activity.active, 0) as double precision)
        / cells.cohort_size as retention_rate

    from cells
    left join member_activity
        on
            cells.cohort_type = member_activity.cohort_type
            and cells.cohort_week = member_activity.cohort_week
            and cells.weeks_since = member_activity.weeks_since

)

select * from final
