{#- Value of one query-string parameter of a URL, percent-decoded, '+' read as a space;
    null when the parameter is absent or empty. -#}
{% macro url_query_param(url, name) -%}
    {{ return(adapter.dispatch('url_query_param', 'webfunnel')(url, name)) }}
{%- endmacro %}

{% macro default__url_query_param(url, name) -%}
    {{ exceptions.raise_compiler_error("url_query_param is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__url_query_param(url, name) -%}
    nullif(trim(url_decode(replace(
        regexp_extract({{ url }}, '[?&]{{ name }}=([^&#]*)', 1), '+', ' '
    ))), '')
{%- endmacro %}

{#- PostgreSQL and Redshift have no URL decoder: the escapes seen in campaign tags are decoded. -#}
{% macro webfunnel_decode_common_escapes(value) -%}
    replace(replace(replace(replace(replace(replace(replace(replace(
        {{ value }}, '+', ' '), '%20', ' '), '%2D', '-'), '%2d', '-'),
        '%5F', '_'), '%5f', '_'), '%2E', '.'), '%2e', '.')
{%- endmacro %}

{% macro postgres__url_query_param(url, name) -%}
    nullif(trim({{ webfunnel_decode_common_escapes("substring(" ~ url ~ " from '[?&]" ~ name ~ "=([^&#]*)')") }}), '')
{%- endmacro %}

{% macro redshift__url_query_param(url, name) -%}
    nullif(trim({{ webfunnel_decode_common_escapes("regexp_substr(" ~ url ~ ", '[?&]" ~ name ~ "=([^&#]*)', 1, 1, 'e')") }}), '')
{%- endmacro %}
