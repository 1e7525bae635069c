{#- Weekly retention: for each cohort (type, week) and each week since, the members active
    in week cohort_week + weeks_since. Every week up to the latest week with activity gets a
    row, zeros included, so a BI heatmap has no holes. -#}
with

int_cohort_members_assigned as (

    select * from {{ ref('int_cohort_members_assigned') }}

),

int_activity_weeks_unioned as (

    select * from {{ ref('int_activity_weeks_unioned') }}

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
        int_cohort_members_assigned.cohort_type,
        int_cohort_members_assigned.cohort_week,
        cast(
            {{ dbt.datediff('int_cohort_members_assigned.cohort_week', 'int_activity_weeks_unioned.activity_week', 'day') }}
            / 7 as integer
        ) as weeks_since,
        count(*) as active

    -- joined by member_key alone (macro member_key): the kind and id strings are neither
    -- hashed nor compared
    from int_cohort_members_assigned
    inner join int_activity_weeks_unioned
        on
            int_cohort_members_assigned.member_key = int_activity_weeks_unioned.member_key
            and int_activity_weeks_unioned.activity_week >= int_cohort_members_assigned.cohort_week
    group by 1, 2, 3  -- noqa: AM06

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
