{#- `cast(<alias>.<column> as <type>) as <column>` for each (column, type) of `columns`.

    An analytics output that is empty because its stage had nothing to compute on (a
    single day, no interactions) carries only its key columns (stages._EMPTY_OUTPUTS);
    there a missing column becomes a typed NULL. When the relation does not exist (compile
    or docs without a warehouse) the SQL is rendered as if every column were there. A missing column in an output that has
    rows is schema drift and fails the build, naming the table and the column. -#}
{% macro typed_columns(relation, alias, columns) -%}
    {%- set present = [] -%}
    {%- set n_rows = [0] -%}
    {%- set exists = execute and adapter.get_relation(database=relation.database,
                                                         schema=relation.schema,
                                                         identifier=relation.identifier) -%}
    {%- if exists -%}
        {%- for col in adapter.get_columns_in_relation(relation) -%}
            {%- do present.append(col.name | lower) -%}
        {%- endfor -%}
        {%- set missing = [] -%}
        {%- for name, type in columns if name | lower not in present -%}
            {%- do missing.append(name) -%}
        {%- endfor -%}
        {%- if missing -%}
            {%- set count = run_query('select count(*) from ' ~ relation).columns[0].values()[0] -%}
            {%- if count > 0 -%}
                {{ exceptions.raise_compiler_error(
                    relation ~ " has " ~ count ~ " row(s) but no column(s) " ~ missing | join(', ')
                    ~ " that " ~ model.name ~ " needs (schema drift of the analytics output)") }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- for name, type in columns %}
        {% if not exists or name | lower in present -%}
            cast({{ alias }}.{{ adapter.quote(name) }} as {{ type }})
        {%- else -%}
            cast(null as {{ type }})
        {%- endif %} as {{ adapter.quote(name) }},
    {%- endfor %}
{%- endmacro %}
