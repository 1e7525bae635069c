{#- The lookup key of an event id. A staging table's stored rows are looked up by this key
    instead of by the id string: on DuckDB, the first 64 bits of the id's MD5 (a ubigint),
    a probe of 8-byte integers. Each run's lookup of stored deliveries reads the key of every
    stored event, so its width is what that scan costs: 64 bits are half the bytes of the
    whole 128-bit MD5 (680 MB at 40 M events), with no more than a handful of chance
    matches to fetch (about m * n / 2^64 for m new events among n).

    Two events may share a key (for n events, about n^2 / 2^65: 4e-5 at 40 M). The models
    stay exact if they do: deliveries compete per event_id, so a stored row found by another
    event's key never wins (macro first_delivery_ctes), and the delete of replaced rows
    matches the id as well as the key (strategy first_deliveries). -#}
{% macro event_key(value) -%}
    {{ return(adapter.dispatch('event_key', 'webfunnel')(value)) }}
{%- endmacro %}

{% macro default__event_key(value) -%}
    md5({{ value }})
{%- endmacro %}

{% macro duckdb__event_key(value) -%}
    {{ webfunnel.md5_prefix(value, 'WEBFUNNEL_EVENT_KEY_BITS') }}
{%- endmacro %}

{#- The lookup key of a cookie: the first 64 bits of its MD5 number. The per-cookie models
    find a changed cookie's rows by this key instead of by the cookie string: on DuckDB a
    semi-join over 20 M such integers takes a third of the time of 20 M cookie strings, and
    its filter reaches the table scan, so the other columns are read only for the rows it
    keeps.

    Two cookies may share a key (for n cookies, about n^2 / 2^65: below 1e-7 at 1.6 M).
    The models stay exact if they do: a read by key takes every row of every cookie with
    that key, the computations partition by the cookie itself, and a delete by key removes
    only keys whose rows the same statement's read recomputed. A collision costs the other
    cookie's recomputation, identical to what it replaces. -#}
{% macro cookie_key(value) -%}
    {{ return(adapter.dispatch('cookie_key', 'webfunnel')(value)) }}
{%- endmacro %}

{% macro default__cookie_key(value) -%}
    md5({{ value }})
{%- endmacro %}

{% macro duckdb__cookie_key(value) -%}
    {{ webfunnel.md5_prefix(value, 'WEBFUNNEL_COOKIE_KEY_BITS') }}
{%- endmacro %}

{#- DuckDB: the first bits of the value's MD5 as a ubigint, 64 unless the environment
    variable `bits_variable` narrows them (tests make collisions common with it; part of
    the project fingerprint, ingest/pipeline.py KEY_BITS, so a change rebuilds every stored
    key) -#}
{% macro md5_prefix(value, bits_variable) -%}
    {%- set bits = env_var(bits_variable, '64') | int -%}
    {%- if bits < 1 or bits > 64 -%}
        {{ exceptions.raise_compiler_error(
            bits_variable ~ ' must be a whole number from 1 to 64'
        ) }}
    {%- endif -%}
    cast(md5_number({{ value }}) >> {{ 128 - bits }} as ubigint)
{%- endmacro %}

{#- The SQL type of cookie_key(): for the typed nulls of first_delivery_ctes -#}
{% macro cookie_key_type() -%}
    {{ return(adapter.dispatch('cookie_key_type', 'webfunnel')()) }}
{%- endmacro %}

{% macro default__cookie_key_type() -%}
    {{ return(dbt.type_string()) }}
{%- endmacro %}

{% macro duckdb__cookie_key_type() -%}
    {{ return('ubigint') }}
{%- endmacro %}

{#- The key of a retention member (a cookie or a person): the 128-bit MD5 of its kind and
    id (DuckDB md5_number, a uhugeint; elsewhere the hex md5). The retention models replace a
    changed member's rows by it, and int_cohort_activity_joined joins cohort members to their
    activity weeks on it alone: on DuckDB, over the 1.7 M members and 2.1 M activity weeks
    of 14 days, that join took 0.13 s on the key against 0.31 s on kind and id (in memory,
    warm).
    Two members share a key by chance with probability about n^2 / 2^129 for n members,
    below 1e-19 at ten billion. -#}
{% macro member_key(member_kind, member_id) -%}
    {{ return(adapter.dispatch('member_key', 'webfunnel')(member_kind, member_id)) }}
{%- endmacro %}

{% macro default__member_key(member_kind, member_id) -%}
    md5({{ member_kind }} || ':' || {{ member_id }})
{%- endmacro %}

{% macro duckdb__member_key(member_kind, member_id) -%}
    md5_number({{ member_kind }} || ':' || {{ member_id }})
{%- endmacro %}

{#- The member_key of every changed cookie and person (SQL text: a query of one column), from
    int_cookies_changed and int_persons_changed: the members the retention models
    recompute. A model passes refs; a scoped test, the relations from the graph. -#}
{% macro changed_member_keys(changed_cookies, changed_persons) -%}
    select {{ webfunnel.member_key("'cookie'", 'cookie') }} from {{ changed_cookies }}
    union all
    select {{ webfunnel.member_key("'person'", 'person_id') }} from {{ changed_persons }}
{%- endmacro %}
