{#- Every retention cohort member with its cohort week (weeks start on Monday, UTC):
    visitor = a cookie, in the week of its first ping; user = a person, in the week of its
    signup; customer = a signed-up person, in the week of its current customer_at.

    An incremental run recomputes the members of the changed cookies and persons whole,
    keyed on the member (not the cohort), so a customer cohort a CRM correction removed is
    deleted with the person's other rows and not inserted again. The rows are replaced by
    member_key (macro member_key), one integer column to read, not kind and id. -#}
{{
    config(
        materialized='incremental',
        unique_key='member_key',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_cookies_changed') }}
-- depends_on: {{ ref('int_persons_changed') }}
with

int_pageviews_sessionized as (

    select * from {{ ref('int_pageviews_sessionized') }}

),

int_persons_signed_up as (

    select * from {{ ref('int_persons_signed_up') }}
    {% if is_incremental() %}
        where person_id in (select person_id from {{ ref('int_persons_changed') }})
    {% endif %}

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
    {% if is_incremental() %}
        -- the changed cookies' rows, as this invocation wrote them there (macro
        -- built_in_this_invocation)
        where
            pageview_number = 1
            and {{ webfunnel.built_in_this_invocation() }}
    {% else %}
        where pageview_number = 1
    {% endif %}

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

members as (

    select * from visitor_members
    union all
    select * from user_members
    union all
    select * from customer_members

),

final as (

    select
        cohort_type,
        member_kind,
        member_id,
        {{ webfunnel.member_key('member_kind', 'member_id') }} as member_key,
        cohort_week

    from members

)

select * from final
