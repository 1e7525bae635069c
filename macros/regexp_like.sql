{#- True when `value` matches the regular expression `pattern` anywhere (POSIX/RE2 subset). -#}
{% macro regexp_like(value, pattern) -%}
    {{ return(adapter.dispatch('regexp_like', 'webfunnel')(value, pattern)) }}
{%- endmacro %}

{% macro default__regexp_like(value, pattern) -%}
    {{ exceptions.raise_compiler_error("regexp_like is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__regexp_like(value, pattern) -%}
    regexp_matches({{ value }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regexp_like(value, pattern) -%}
    ({{ value }} ~ '{{ pattern }}')
{%- endmacro %}

{#- Redshift reads a backslash in a string literal as an escape (PostgreSQL 8 behaviour, no
    standard_conforming_strings): double it so that the regex engine sees the pattern. -#}
{% macro redshift__regexp_like(value, pattern) -%}
    ({{ value }} ~ '{{ pattern | replace('\\', '\\\\') }}')
{%- endmacro %}
