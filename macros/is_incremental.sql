{#- dbt's is_incremental(), except that `--vars '{offline_incremental: true|false}'` answers
    without asking the database whether the model exists: the Redshift dialect check compiles
    both branches of every incremental model with no cluster to ask. -#}
{% macro is_incremental() %}
    {%- set offline = var('offline_incremental', none) -%}
    {%- if offline is not none -%}
        {{ return(offline) }}
    {%- endif -%}
    {{ return(dbt.is_incremental()) }}
{% endmacro %}
