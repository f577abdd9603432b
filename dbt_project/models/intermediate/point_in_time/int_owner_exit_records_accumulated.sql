{{
    config(
        materialized='incremental',
        incremental_strategy='replace_from',
        replace_from='t',
        on_schema_change='append_new_columns'
    )
}}
-- Each owner's record as it stood after each moment one of its deals left an open stage: the
-- running sum of the exits' surprises (s) and their count (n) up to and including that moment
-- (the macro exit_records_accumulated, shared with the accounts' records).
{{ exit_records_accumulated('owner_id') }}
