{#- A host without one leading `www.`: internal navigation compares hosts this way. -#}
{% macro strip_www(host) -%}
    case when {{ host }} like 'www.%' then substring({{ host }}, 5) else {{ host }} end
{%- endmacro %}
