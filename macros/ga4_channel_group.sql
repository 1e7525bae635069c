{#- Google Analytics 4's default channel group, rule by rule in GA4's order.
    `source` is the canonical source (channel), `medium` and `campaign` are lower-cased
    (for untagged traffic medium is '(none)' for direct, 'organic' for search engines and
    'referral' otherwise, as GA4 sets them), `source_category` is the channel table's
    SEARCH / SOCIAL / VIDEO / SHOPPING (null for other sources). -#}
{% macro ga4_channel_group(source, medium, campaign, source_category) -%}
    {%- set paid_medium = webfunnel.regexp_like(medium, '^(.*cp.*|ppc|retargeting|paid.*)$') -%}
    {%- set shop_campaign = webfunnel.regexp_like(campaign, '^(.*(([^a-df-z]|^)shop|shopping).*)$') -%}
    case
        when {{ source }} in ('direct', '(direct)')
            and {{ medium }} in ('(not set)', '(none)') then 'Direct'
        when {{ campaign }} like '%cross-network%' then 'Cross-network'
        when ({{ source_category }} = 'SHOPPING' or coalesce({{ shop_campaign }}, false))
            and coalesce({{ paid_medium }}, false) then 'Paid Shopping'
        when {{ source_category }} = 'SEARCH' and coalesce({{ paid_medium }}, false) then 'Paid Search'
        when {{ source_category }} = 'SOCIAL' and coalesce({{ paid_medium }}, false) then 'Paid Social'
        when {{ source_category }} = 'VIDEO' and coalesce({{ paid_medium }}, false) then 'Paid Video'
        when {{ medium }} in ('display', 'banner', 'expandable', 'interstitial', 'cpm') then 'Display'
        when coalesce({{ paid_medium }}, false) then 'Paid Other'
        when {{ source_category }} = 'SHOPPING' or coalesce({{ shop_campaign }}, false) then 'Organic Shopping'
        when {{ source_category }} = 'SOCIAL'
            or {{ medium }} in ('social', 'social-network', 'social-media', 'sm', 'social network', 'social media')
            then 'Organic Social'
        when {{ source_category }} = 'VIDEO'
            or coalesce({{ webfunnel.regexp_like(medium, '^(.*video.*)$') }}, false) then 'Organic Video'
        when {{ source_category }} = 'SEARCH' or {{ medium }} = 'organic' then 'Organic Search'
        when {{ medium }} in ('referral', 'app', 'link') then 'Referral'
        when {{ source }} in ('email', 'e-mail', 'e_mail', 'e mail')
            or {{ medium }} in ('email', 'e-mail', 'e_mail', 'e mail') then 'Email'
        when {{ medium }} = 'affiliate' then 'Affiliates'
        when {{ medium }} = 'audio' then 'Audio'
        when {{ source }} = 'sms' or {{ medium }} = 'sms' then 'SMS'
        when {{ medium }} like '%push'
            or {{ medium }} like '%mobile%'
            or {{ medium }} like '%notification%'
            or {{ source }} = 'firebase' then 'Mobile Push Notifications'
        else 'Unassigned'
    end
{%- endmacro %}
