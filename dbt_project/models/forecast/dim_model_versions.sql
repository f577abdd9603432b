{#- Every model version trained: its recipe, features, data window, backtest scores, the
    champion/challenger decision and which version was current after that night; each fallback
    of the night (skipped backtest, fallback model, skipped model) and the night's horizons. -#}
{%- set ml = source('ml', 'model_runs') -%}
{%- set columns = {
    'model_version': dbt.type_string(),
    'model_name': dbt.type_string(),
    'as_of': 'date',
    'run_id': dbt.type_string(),
    'recipe_id': dbt.type_string(),
    'recipe': dbt.type_string(),
    'trained_at': dbt.type_timestamp(),
    'train_rows': 'bigint',
    'first_cutoff': 'date',
    'last_cutoff': 'date',
    'features': dbt.type_string(),
    'metrics': dbt.type_string(),
    'score': type_double(),
    'decision': dbt.type_string(),
    'current_version': dbt.type_string(),
    'is_current': 'boolean',
    'mlflow_run_id': dbt.type_string(),
    'fallback_reason': dbt.type_string(),
    'horizons': dbt.type_string(),
} -%}

with runs as (
    {{ ml_rows(ml, columns, newest_night=false) }}
)

select
    {{- typed_columns(columns) }}
from runs
