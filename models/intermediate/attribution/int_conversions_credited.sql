{#- Credit of each conversion per attribution model and channel. The touches of a
    conversion are the touch pings (internal navigation is not a touch) of the person's
    funnel cookie at or before the conversion. A conversion with no touch is credited to
    `direct`. For every model the credits of one conversion add up to 1:
      first_touch 1 to the first touch; last_touch 1 to the last;
      linear 1/n to each; position_based 40% first, 40% last, 20% shared by the middle
      (one touch: 100%; two touches: 50/50). -#}
{{
    config(
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('int_persons_changed') }}
with

int_conversions_unioned as (

    select * from {{ ref('int_conversions_unioned') }}
    {% if is_incremental() %}
        where person_id in (select person_id from {{ ref('int_persons_changed') }})
    {% endif %}

),

int_person_pageviews_linked as (

    select * from {{ ref('int_person_pageviews_linked') }}

),

-- a cookie's first ping is always a touch: internal navigation as a first ping is `direct`
-- (CONTRACT §2, channel rule 3), so `first_touch` agrees with the visitor's first channel
touches as (

    select
        cookie,
        event_id,
        created_at,
        coalesce(touch_channel, 'direct') as channel

    -- a conversion's cookie is its person's signup cookie, a linked cookie
    from int_person_pageviews_linked
    {% if is_incremental() %}
        -- the recomputed conversions' cookies found by key first (macro cookie_key)
        where
            (is_touch or pageview_number = 1)
            and cookie_key in (
                select {{ webfunnel.cookie_key('cookie') }} from int_conversions_unioned
            )
    {% else %}
        where is_touch or pageview_number = 1
    {% endif %}

),

conversion_touches as (

    select
        int_conversions_unioned.conversion_id,
        int_conversions_unioned.person_id,
        int_conversions_unioned.conversion_stage,
        int_conversions_unioned.converted_at,
        touches.channel,
        row_number() over (
            partition by int_conversions_unioned.conversion_id
            order by touches.created_at, touches.event_id
        ) as touch_position,
        count(*) over (
            partition by int_conversions_unioned.conversion_id
        ) as touch_count

    from int_conversions_unioned
    inner join touches
        on
            int_conversions_unioned.cookie = touches.cookie
            and touches.created_at <= int_conversions_unioned.converted_at

),

untouched as (

    select
        int_conversions_unioned.conversion_id,
        int_conversions_unioned.person_id,
        int_conversions_unioned.conversion_stage,
        int_conversions_unioned.converted_at,
        'direct' as channel,
        1 as touch_position,
        1 as touch_count

    from int_conversions_unioned
    where not exists (
        select 1
        from conversion_touches
        where conversion_touches.conversion_id = int_conversions_unioned.conversion_id
    )

),

all_touches as (

    select * from conversion_touches
    union all
    select * from untouched

),

credits as (

    select
        conversion_id, person_id, conversion_stage, converted_at, channel,
        'first_touch' as attribution_model,
        case when touch_position = 1 then 1.0 else 0.0 end as credit
    from all_touches

    union all

    select
        conversion_id, person_id, conversion_stage, converted_at, channel,
        'last_touch' as attribution_model,
        case when touch_position = touch_count then 1.0 else 0.0 end as credit
    from all_touches

    union all

    select
        conversion_id, person_id, conversion_stage, converted_at, channel,
        'linear' as attribution_model,
        1.0 / touch_count as credit
    from all_touches

    union all

    select
        conversion_id, person_id, conversion_stage, converted_at, channel,
        'position_based' as attribution_model,
        case
            when touch_count = 1 then 1.0
            when touch_count = 2 then 0.5
            when touch_position = 1 or touch_position = touch_count then 0.4
            else 0.2 / (touch_count - 2)
        end as credit
    from all_touches

),

final as (

    select
        conversion_id,
        person_id,
        attribution_model,
        channel,
        conversion_stage,
        converted_at,
        cast(sum(credit) as double precision) as credit,
        -- the same credit as an exact decimal: sums over many conversions then do not
        -- depend on row order (incremental and full builds agree to the last digit)
        sum(cast(credit as decimal(38, 18))) as credit_exact

    from credits
    where credit > 0
    group by conversion_id, person_id, attribution_model, channel, conversion_stage, converted_at

)

select * from final
