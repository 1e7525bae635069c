{#- Lower-case hex SHA-256 of a UTF-8 string: person_id is sha256_hex(lower(trim(email))). -#}
{% macro sha256_hex(value) -%}
    {{ return(adapter.dispatch('sha256_hex', 'webfunnel')(value)) }}
{%- endmacro %}

{% macro default__sha256_hex(value) -%}
    {{ exceptions.raise_compiler_error("sha256_hex is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__sha256_hex(value) -%}
    sha256({{ value }})
{%- endmacro %}

{% macro postgres__sha256_hex(value) -%}
    encode(sha256(convert_to({{ value }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro redshift__sha256_hex(value) -%}
    sha2({{ value }}, 256)
{%- endmacro %}
