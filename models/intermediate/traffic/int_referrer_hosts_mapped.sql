{{
    config(
        materialized='incremental',
        unique_key='referrer_host',
        incremental_strategy='delete+insert',
    )
}}
-- depends_on: {{ ref('stg_ops__batches_new') }}
with

stg_pings__pageviews as (

    select * from {{ ref('stg_pings__pageviews') }}
    {% if is_incremental() %}
        where {{ webfunnel.new_batch_rows(ref('stg_ops__batches_new')) }}
    {% endif %}

),

channel_sources as (

    select * from {{ ref('channel_sources') }}

),

referrer_hosts as (

    select distinct referrer_host
    from stg_pings__pageviews
    where referrer_host is not null

),

-- rule 4: the host itself or any parent domain of it is in the channel table;
-- the most specific (longest) entry wins
domain_matches as (

    select
        referrer_hosts.referrer_host,
        channel_sources.channel,
        channel_sources.source_category,
        row_number() over (
            partition by referrer_hosts.referrer_host
            order by {{ dbt.length('channel_sources.source') }} desc
        ) as match_rank

    from referrer_hosts
    inner join channel_sources
        on
            channel_sources.source like '%.%'
            and (
                referrer_hosts.referrer_host = channel_sources.source
                or referrer_hosts.referrer_host like {{ dbt.concat(["'%.'", 'channel_sources.source']) }}
            )

),

final as (

    select
        referrer_hosts.referrer_host,
        case
            when domain_matches.channel is not null then domain_matches.channel
            when {{ webfunnel.is_google_domain('referrer_hosts.referrer_host') }} then 'google'
        end as channel,
        case
            when domain_matches.channel is not null then domain_matches.source_category
            when {{ webfunnel.is_google_domain('referrer_hosts.referrer_host') }} then 'SEARCH'
        end as source_category

    from referrer_hosts
    left join domain_matches
        on
            referrer_hosts.referrer_host = domain_matches.referrer_host
            and domain_matches.match_rank = 1

)

select * from final
