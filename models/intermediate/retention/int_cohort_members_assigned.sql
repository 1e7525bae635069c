{#- Every retention cohort member with its cohort week (weeks start on Monday, UTC):
    visitor = a cookie, in the week of its first ping; user = a person, in the week of its
    signup; customer = a signed-up person, in the week of its current customer_at. -#}
with

int_pageviews_sessionized as (

    select * from {{ ref('int_pageviews_sessionized') }}

),

int_persons_signed_up as (

    select * from {{ ref('int_persons_signed_up') }}

),

int_contacts_resolved as (

    select * from {{ ref('int_contacts_resolved') }}

),

visitor_members as (

    select
        'visitor' as cohort_type,
        'cookie' as member_kind,
        cookie as member_id,
        cast({{ dbt.date_trunc('week', 'created_at') }} as date) as cohort_week

    from int_pageviews_sessionized
    where pageview_number = 1

),

user_members as (

    select
        'user' as cohort_type,
        'person' as member_kind,
        person_id as member_id,
        cast({{ dbt.date_trunc('week', 'signed_up_at') }} as date) as cohort_week

    from int_persons_signed_up

),

customer_members as (

    select
        'customer' as cohort_type,
        'person' as member_kind,
        int_persons_signed_up.person_id as member_id,
        cast({{ dbt.date_trunc('week', 'int_contacts_resolved.customer_at') }} as date) as cohort_week

    from int_persons_signed_up
    inner join int_contacts_resolved
        on int_persons_signed_up.person_id = int_contacts_resolved.person_id
    where int_contacts_resolved.customer_at is not null

),

final as (

    select * from visitor_members
    union all
    select * from user_members
    union all
    select * from customer_members

)

select * from final
