{#- Value of one query-string parameter of a URL, percent-decoded, '+' read as a space;
    null when the parameter is absent or empty.

    Decoding follows DuckDB's url_decode: `%XX` is a byte, any other `%` is kept as it is.
    When the decoded bytes are not valid UTF-8 (`%FF`, a truncated `%E2%82`) or hold a NUL
    (which PostgreSQL text cannot), the value is kept exactly as landed rather than failing
    the build: one hostile URL must not stop the hourly run. -#}
{% macro url_query_param(url, name) -%}
    {{ return(adapter.dispatch('url_query_param', 'webfunnel')(url, name)) }}
{%- endmacro %}

{% macro default__url_query_param(url, name) -%}
    {{ exceptions.raise_compiler_error("url_query_param is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__url_query_param(url, name) -%}
    {%- set value = "replace(regexp_extract(" ~ url ~ ", '[?&]" ~ name ~ "=([^&#]*)', 1), '+', ' ')" -%}
    {%- set decoded = "try(url_decode(" ~ value ~ "))" %}
    nullif(trim(case
        when {{ decoded }} is null or contains({{ decoded }}, chr(0)) then {{ value }}
        else {{ decoded }}
    end), '')
{%- endmacro %}

{#- PostgreSQL has no URL decoder: the value is split into `%XX` bytes and literal text,
    reassembled as bytes and read as UTF-8, but only when a pattern of well-formed UTF-8
    escapes (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF) says that
    `convert_from` cannot fail. -#}
{% macro webfunnel_utf8_escapes_pattern() -%}
    {%- set cont = "%[89ab][0-9a-f]" -%}
    {{- "^([^%]|%(?![0-9a-f]{2})|%(0[1-9a-f]|[1-7][0-9a-f])"
        ~ "|%(c[2-9a-f]|d[0-9a-f])" ~ cont
        ~ "|%e0%[ab][0-9a-f]" ~ cont
        ~ "|%(e[1-9a-cef])(" ~ cont ~ "){2}"
        ~ "|%ed%[89][0-9a-f]" ~ cont
        ~ "|%f0%[9ab][0-9a-f](" ~ cont ~ "){2}"
        ~ "|%f[1-3](" ~ cont ~ "){3}"
        ~ "|%f4%8[0-9a-f](" ~ cont ~ "){2})*$" -}}
{%- endmacro %}

{% macro postgres__url_query_param(url, name) -%}
    {%- set value = "replace(substring(" ~ url ~ " from '[?&]" ~ name ~ "=([^&#]*)'), '+', ' ')" -%}
    nullif(trim(case
        when {{ value }} !~ '%[0-9A-Fa-f]{2}' then {{ value }}
        when {{ value }} ~* '{{ webfunnel_utf8_escapes_pattern() }}' then (
            select convert_from(string_agg(
                case
                    when length(piece.token[1]) = 3 and left(piece.token[1], 1) = '%'
                        then decode(substr(piece.token[1], 2), 'hex')
                    else convert_to(piece.token[1], 'UTF8')
                end, ''::bytea order by piece.position
            ), 'UTF8')
            from regexp_matches({{ value }}, '%[0-9A-Fa-f]{2}|[^%]+|%', 'g')
                with ordinality as piece (token, position)
        )
        else {{ value }}
    end), '')
{%- endmacro %}

{#- Redshift has neither a URL decoder nor set-returning regular expressions in a scalar
    context: the printable ASCII escapes (`%20` to `%7E`, either hex case) are replaced one
    by one, `%25` last so that `%2541` stays `%41`. A value with an escape of a byte above
    0x7F (UTF-8 text such as `%C3%A9`) or a control byte is kept as landed: the one place
    where Redshift differs from DuckDB and PostgreSQL (README). The chain nests 130 calls
    deep, which Redshift's parser takes; sqlfluff needs its limits raised (see
    tests/postgres/test_redshift_dialect.py). -#}
{% macro redshift__url_query_param(url, name) -%}
    {%- set value = "replace(regexp_substr(" ~ url ~ ", '[?&]" ~ name ~ "=([^&#]*)', 1, 1, 'e'), '+', ' ')" -%}
    {%- set ns = namespace(decoded=value) -%}
    {%- for code in range(32, 127) if code != 37 -%}
        {%- set hex = '%02X' % code -%}
        {%- for spelling in ([hex, hex.lower()] if hex != hex.lower() else [hex]) -%}
            {%- set ns.decoded = "replace(" ~ ns.decoded ~ ", '%" ~ spelling ~ "', chr(" ~ code ~ "))" -%}
        {%- endfor -%}
    {%- endfor %}
    nullif(trim(case
        when {{ value }} ~ '%([89A-Fa-f][0-9A-Fa-f]|[01][0-9A-Fa-f]|7[Ff])' then {{ value }}
        else replace({{ ns.decoded }}, '%25', chr(37))
    end), '')
{%- endmacro %}
