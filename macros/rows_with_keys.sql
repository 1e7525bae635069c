{#- A filter keeping the rows of `relation` whose `column` is among the values of the query
    `keys` (SQL text): `column in (keys)`.

    On DuckDB it goes through the row ids: the keys are matched reading only `column`, then
    the matching rows are fetched by row id. A plain `column in (keys)` under `select *`
    decompresses every selected column of every row before the semi-join drops all but a
    few: for the 1,214 changed cookies of one hourly run over the 20 M rows of
    int_pageviews_sessionized (14 days), 0.34-0.77 s against 0.07 s, in isolation. The fetch
    is cheap where a key's rows lie together, as in the per-cookie tables, which write each
    changed cookie's rows at once; in stg_pings__pageviews, in arrival order, the same fetch
    took 0.23-0.69 s. `relation` must be a table (a view has no row ids), and the filter
    must apply to it alone: use it in a CTE that reads the one table. -#}
{% macro rows_with_keys(relation, column, keys) -%}
    {{ return(adapter.dispatch('rows_with_keys', 'webfunnel')(relation, column, keys)) }}
{%- endmacro %}

{% macro default__rows_with_keys(relation, column, keys) -%}
    {{ column }} in ({{ keys }})
{%- endmacro %}

{% macro duckdb__rows_with_keys(relation, column, keys) -%}
    rowid in (select rowid from {{ relation }} where {{ column }} in ({{ keys }}))
{%- endmacro %}

{#- The rows of `relation`, a per-cookie table, whose cookie_key is a changed cookie's
    (`changed_cookies`: int_cookies_changed; every cookie sharing a key comes with it: macro
    cookie_key), fetched by row id. The per-cookie marts' scoped tests and the
    sessionization's read of its own rows find rows this way (the marts' incremental reads
    of the sessionized rows go by macro built_in_this_invocation). A model
    passes ref('int_cookies_changed'); a test, which must not depend on it, the relation
    from the graph (macro model_relation). -#}
{% macro changed_cookie_rows(relation, changed_cookies) -%}
    {{ return(webfunnel.rows_with_keys(
        relation, 'cookie_key', 'select cookie_key from ' ~ changed_cookies
    )) }}
{%- endmacro %}
