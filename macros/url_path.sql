{#- Path of an absolute URL (no query string or fragment); '/' when the URL has none. -#}
{% macro url_path(url) -%}
    {{ return(adapter.dispatch('url_path', 'webfunnel')(url)) }}
{%- endmacro %}

{% macro default__url_path(url) -%}
    {{ exceptions.raise_compiler_error("url_path is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__url_path(url) -%}
    coalesce(nullif(regexp_extract({{ url }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*(/[^?#]*)', 1), ''), '/')
{%- endmacro %}

{% macro postgres__url_path(url) -%}
    coalesce(nullif(substring({{ url }} from '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*(/[^?#]*)'), ''), '/')
{%- endmacro %}

{% macro redshift__url_path(url) -%}
    coalesce(nullif(regexp_substr(
        regexp_replace({{ url }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*', ''),
        '^/[^?#]*'
    ), ''), '/')
{%- endmacro %}
