{#- Each retention cohort member's weeks of activity since its cohort week: a row per member,
    cohort and active week at or after the cohort week (weeks_since: whole weeks after the
    cohort week), and a row with weeks_since null for a member and cohort with none.
    retention_weekly counts these rows per cell: the join of every cohort member to its
    activity weeks (3.3 M members to 4.2 M weeks at 28 days, most of retention_weekly's
    0.6-1.0 s an hour) is made here once per changed member.

    Incrementally, the changed cookies' and persons' rows are recomputed whole (those that
    int_cohort_members_assigned and int_activity_weeks_unioned recomputed), read and
    replaced by member_key (macro changed_member_keys). The null rows keep every cohort
    member of a recomputed member in the output, so that its old rows are deleted even when
    it has no active week left (a customer week a CRM correction moved past its activity). -#}
{{
    config(
        materialized='incremental',
        unique_key='member_key',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_cookies_changed') }}
-- depends_on: {{ ref('int_persons_changed') }}
{%- set changed_members = webfunnel.changed_member_keys(
    ref('int_cookies_changed'), ref('int_persons_changed')
) %}
with

int_cohort_members_assigned as (

    select cohort_type, member_key, cohort_week
    from {{ ref('int_cohort_members_assigned') }}
    {% if is_incremental() %}
        where {{ webfunnel.rows_with_keys(ref('int_cohort_members_assigned'), 'member_key', changed_members) }}
    {% endif %}

),

int_activity_weeks_unioned as (

    select member_key, activity_week
    from {{ ref('int_activity_weeks_unioned') }}
    {% if is_incremental() %}
        where {{ webfunnel.rows_with_keys(ref('int_activity_weeks_unioned'), 'member_key', changed_members) }}
    {% endif %}

),

final as (

    select
        int_cohort_members_assigned.member_key,
        int_cohort_members_assigned.cohort_type,
        int_cohort_members_assigned.cohort_week,
        cast(
            {{ dbt.datediff('int_cohort_members_assigned.cohort_week', 'int_activity_weeks_unioned.activity_week', 'day') }}
            / 7 as integer
        ) as weeks_since

    -- joined by member_key alone (macro member_key): the kind and id strings are neither
    -- hashed nor compared
    from int_cohort_members_assigned
    left join int_activity_weeks_unioned
        on
            int_cohort_members_assigned.member_key = int_activity_weeks_unioned.member_key
            and int_activity_weeks_unioned.activity_week >= int_cohort_members_assigned.cohort_week

)

select * from final
