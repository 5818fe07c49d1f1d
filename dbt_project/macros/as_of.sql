{#- The run's logical date as a SQL date literal. The var is validated here, so no
    arbitrary text can reach the SQL. -#}
{% macro as_of_date() -%}
    {%- set ds = var('ds') | string -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', ds) -%}
        {{ exceptions.raise_compiler_error("var 'ds' must be YYYY-MM-DD, got: " ~ ds) }}
    {%- endif -%}
    date '{{ ds }}'
{%- endmacro %}

{#- The first instant after the logical date: events up to here count as "as of ds". -#}
{% macro as_of_end() -%}
    (cast({{ as_of_date() }} as timestamp) + interval 1 day)
{%- endmacro %}
