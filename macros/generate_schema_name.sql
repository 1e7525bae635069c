{#- Schemas are named exactly as configured (staging, intermediate, marts, seeds):
    BI tools query `marts.<relation>` by contract, so no target-name prefix. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
