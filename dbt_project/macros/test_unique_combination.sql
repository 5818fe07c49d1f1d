{#- Generic test: the combination of `columns` is unique (no dbt_utils dependency,
    which would need a package download at run time). -#}
{% test unique_combination_of_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
