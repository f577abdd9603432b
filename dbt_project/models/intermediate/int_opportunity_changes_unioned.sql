-- The change history of every opportunity: the CRM's own stage history where it exports one; for
-- opportunities it has no history rows for (a CRM that exports none, or deals missing from it),
-- one change row per version the nightly snapshots kept (snp_crm__opportunities).
--
-- A derived row is dated by the export that first showed the version (its dbt_valid_from), except
-- the first version: its state is taken to hold since the deal was created, or, for a deal already
-- closed when first seen, since its close date; never later than the export that first showed it.
{{ opportunity_changes_unioned() }}
