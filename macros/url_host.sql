{#- Lower-cased host of an absolute URL, without user info or port; null when there is none. -#}
{% macro url_host(url) -%}
    {{ return(adapter.dispatch('url_host', 'webfunnel')(url)) }}
{%- endmacro %}

{% macro default__url_host(url) -%}
    {{ exceptions.raise_compiler_error("url_host is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__url_host(url) -%}
    nullif(lower(regexp_extract({{ url }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?([^:/?#]*)', 1)), '')
{%- endmacro %}

{% macro postgres__url_host(url) -%}
    nullif(lower(substring({{ url }} from '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?([^:/?#]*)')), '')
{%- endmacro %}

{% macro redshift__url_host(url) -%}
    {#- Redshift's POSIX regexes have no non-capturing groups: drop scheme and user info first. -#}
    nullif(lower(regexp_substr(
        regexp_replace({{ url }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^@/?#]*@)?', ''),
        '^[^:/?#]*'
    )), '')
{%- endmacro %}
