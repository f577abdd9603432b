{#- Rewind a snapshot to before the export it is about to take: its pre-hook.

    The opportunities snapshot dates each version by its export (updated_at: exported_at). A
    re-delivered export (pipecast.ingest loads a date again when its files' content hash changed)
    replaces that date's raw rows, but the snapshot already holds versions from the replaced
    content: taken again, a changed deal would get a second version with the same validity start
    (the unique_combination test fails, and every later night with it). Likewise when the export
    served moves back (a correction quarantined: the export before it serves again).

    So, before every snapshot, the versions that came from the export being snapshotted or from a
    later one (dbt_valid_from at or after its export date) are deleted and the versions they closed
    (dbt_valid_to at or after it) re-opened; the snapshot then takes the export as it is now. For an
    export snapshotted once and unchanged this is a no-op in effect: the same versions come back.
    The hook runs inside the snapshot's transaction (dbt's snapshot materialisation: pre-hooks
    inside_transaction, then the merge, then one commit), so a kill or an error anywhere in
    between leaves the snapshot as it was. Alike on DuckDB and PostgreSQL.
-#}
{% macro rewind_snapshot_to(snapshot, source, exported_at='exported_at') -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set existing = adapter.get_relation(
        database=snapshot.database, schema=snapshot.schema, identifier=snapshot.identifier) -%}
    {%- if existing is none -%}{{ return('') }}{%- endif -%}
    {%- set columns = config.get('snapshot_table_column_names') or get_snapshot_table_column_names() -%}
    {%- set taken = '(select max(' ~ exported_at ~ ') from ' ~ source ~ ')' -%}
    /* pipecast: rewind {{ snapshot }} to before the export it takes */
    delete from {{ snapshot }} where {{ columns.dbt_valid_from }} >= {{ taken }};
    update {{ snapshot }} set {{ columns.dbt_valid_to }} = null where {{ columns.dbt_valid_to }} >= {{ taken }}
{%- endmacro %}
