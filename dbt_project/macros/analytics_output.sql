{#- Materialization of the analytics outputs (models/analytics/): the Python tasks of the
    DAG write these tables (Parquet per output, loaded into `analytics.*` by the single
    writer task `load_analytics`), so dbt creates nothing. A model of this kind puts the
    output in the lineage (landing -> raw -> staging -> core -> analytics -> marts: its
    `-- depends_on:` refs name the core tables the task reads, and marts `ref()` it), and
    running it checks that the table exists, writes its description as a table comment
    and lets its key tests run before the marts that read it.

    A missing table fails with the task that should have produced it
    (`meta.produced_by_task`). -#}
{% materialization analytics_output, default %}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema,
                                            identifier=this.identifier) -%}
    {%- if existing is none -%}
        {%- set producer = (config.get('meta') or {}).get('produced_by_task', 'an analytics task') -%}
        {{ exceptions.raise_compiler_error(
            "analytics output " ~ this ~ " does not exist: it is written by the DAG task '"
            ~ producer ~ "' (then loaded by 'load_analytics'); run the analytics stages of "
            ~ "this logical date before the marts") }}
    {%- endif -%}
    {% call statement('main') -%}
        select count(*) as n_rows from {{ existing }}
    {%- endcall %}
    {% do persist_docs(existing, model) %}
    {% do adapter.commit() %}
    {{ return({'relations': [existing]}) }}
{% endmaterialization %}
