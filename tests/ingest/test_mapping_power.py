"""Mappings for the exports people really have: date arithmetic, repeated lines combined into one
record (aggregate), a duplicate-key error that says how many keys repeat and what resolves them,
and `pipecast mapping check`."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pipecast.cli import main
from pipecast.config import PROJECT_ROOT, Settings
from pipecast.ingest import IngestError, ingest_export

from tests.ingest.conftest import dataset_dir, land_dataset, put_export, query

MAPPINGS = PROJECT_ROOT / "mappings"
EXPORT_DAY = date(2018, 1, 1)

# A closed-deal export with no dates, only ages in days as of the export, and one line per product:
# the lines sharing an account, rep and engage date are one deal.
LINES_MAPPING = """\
layout: closed_deal_lines
sources:
  lines: {file: deal_lines.csv, required: true}
entities:
  opportunities:
    from: lines
    aggregate:
      order_by: [close_date]
      columns: {amount: sum, close_date: max, stage: last, is_won: max, product_id: first, products: first}
    columns:
      opportunity_id: deal_key
      owner_id: sales_agent
      account_id: account
      stage: deal_stage
      created_at: {export_date: true, minus_days: engaged_days_ago}
      close_date: {export_date: true, minus_days: closed_days_ago}
      amount: close_value
      product_id: product
      is_closed: {value: true}
      is_won: {column: deal_stage, map: {Won: true}, otherwise: false}
    features:
      products: {column: product, kind: categorical}
  opportunity_stage_history:
    from: lines
    aggregate:
      columns: {amount: sum}
    columns:
      opportunity_id: deal_key
      changed_at: {export_date: true, minus_days: engaged_days_ago}
      stage: {value: Engaging}
      amount: close_value
  stages:
    rows:
      - {pipeline: default, stage: Engaging, sort_order: 1, probability: 40, is_closed: false, is_won: false}
      - {pipeline: default, stage: Won, sort_order: 2, probability: 100, is_closed: true, is_won: true}
      - {pipeline: default, stage: Lost, sort_order: 3, probability: 0, is_closed: true, is_won: false}
"""


def _settings(settings: Settings, mapping: Path) -> Settings:
    return settings.model_copy(update={"source_layout": str(mapping)})


def _maven_closed_lines() -> pd.DataFrame:
    pipeline = pd.read_csv(dataset_dir("maven_crm_pipeline") / "sales_pipeline.csv")
    closed = pipeline[pipeline["deal_stage"].isin(["Won", "Lost"]) & pipeline["account"].notna()].copy()
    engage = pd.to_datetime(closed["engage_date"])
    close = pd.to_datetime(closed["close_date"])
    closed["deal_key"] = closed["account"] + "|" + closed["sales_agent"] + "|" + closed["engage_date"]
    closed["engaged_days_ago"] = (pd.Timestamp(EXPORT_DAY) - engage).dt.days
    closed["closed_days_ago"] = (pd.Timestamp(EXPORT_DAY) - close).dt.days
    return closed


def test_dateless_closed_deal_lines_from_real_data(settings, tmp_path):
    """Maven's real closed deals re-exported in the dateless shape (ages in days, one line per
    product; 77 account-rep-engage-date groups of closed deals have several lines): the mapping rebuilds the
    dates and sums that pandas computes from the original file."""
    lines = _maven_closed_lines()
    columns = ["deal_key", "opportunity_id", "sales_agent", "account", "product", "deal_stage"]
    columns += ["close_value", "engaged_days_ago", "closed_days_ago"]
    put_export(
        settings.resolved_landing_dir, EXPORT_DAY, {"deal_lines.csv": lines[columns].to_csv(index=False)}
    )
    mapping = tmp_path / "closed_deal_lines.yml"
    mapping.write_text(LINES_MAPPING)
    result = ingest_export(EXPORT_DAY, _settings(settings, mapping))

    expected = lines.groupby("deal_key").agg(
        created=("engage_date", "min"),
        closed=("close_date", "max"),
        amount=("close_value", "sum"),
        won=("deal_stage", lambda s: bool((s == "Won").any())),
        n=("opportunity_id", "size"),
    )
    assert (expected["n"] > 1).sum() == 77  # the real closed deals sharing account, rep and engage date
    assert result.rows["opportunities"] == len(expected) == len(lines) - (expected["n"] - 1).sum()
    repeated = len(lines) - len(expected)
    assert f"opportunities: {repeated} of {len(lines)} rows repeat a key" in " ".join(result.warnings)
    got = pd.DataFrame(
        query(
            settings,
            "select opportunity_id, created_at::date::varchar, close_date::varchar, amount, is_won "
            "from raw.opportunities order by 1",
        ),
        columns=["deal_key", "created", "closed", "amount", "won"],
    ).set_index("deal_key")
    pd.testing.assert_frame_equal(
        got, expected[["created", "closed", "amount", "won"]].sort_index(), check_dtype=False
    )
    # The last line by close date gives the stage; a feature is combined like a column (first).
    key = expected[expected["n"] == 3].index[0]
    rows = lines[lines["deal_key"] == key].sort_values("close_date")
    stage, features = query(
        settings, "select stage, features from raw.opportunities where opportunity_id = ?", [key]
    )[0]
    assert stage == rows["deal_stage"].iloc[-1]
    assert features == '{"products":"' + rows["product"].iloc[0] + '"}'


def _tiny_export(landing: Path, day: date, text: str) -> None:
    put_export(landing, day, {"deal_lines.csv": text})


TINY_HEADER = "deal_key,opportunity_id,sales_agent,account,product,deal_stage,close_value,"
TINY_HEADER += "engaged_days_ago,closed_days_ago\n"


def test_aggregate_conflict_names_key_lines_and_the_option(settings, tmp_path):
    mapping = tmp_path / "closed_deal_lines.yml"
    mapping.write_text(
        LINES_MAPPING.replace("owner_id: sales_agent", "owner_id: sales_agent\n      name: opportunity_id")
    )
    text = (
        TINY_HEADER
        + "D1,a,Ann,Acme,GTX,Won,10,30,2\nD2,b,Bob,Acme,MG,Lost,0,40,4\nD1,c,Ann,Acme,MG,Won,5,30,1\n"
    )
    _tiny_export(settings.resolved_landing_dir, EXPORT_DAY, text)
    with pytest.raises(IngestError) as caught:
        ingest_export(EXPORT_DAY, _settings(settings, mapping))
    error = caught.value
    assert (error.line, error.column) == (4, "opportunity_id")
    assert "1 key(s) have lines that disagree on name" in error.message
    assert "{'opportunity_id': 'D1'} on lines [2, 4] with ['a', 'c']" in error.message
    assert "entities.opportunities.aggregate.columns.name: one of sum, min, max, first, last" in error.message


def test_days_column_and_constant_days(settings, tmp_path):
    """column + days column (fractional, negative), export date - days, column - constant; a bad
    days value names its own line and column."""
    mapping = tmp_path / "ages.yml"
    mapping.write_text(
        LINES_MAPPING.replace("layout: closed_deal_lines", "layout: ages")
        .replace(
            "      amount: close_value\n      product_id",
            "      amount: close_value\n"
            "      last_modified_at: {column: opened, plus_days: engaged_days_ago}\n"
            "      product_id",
        )
        .replace(
            "      changed_at: {export_date: true, minus_days: engaged_days_ago}",
            "      changed_at: {column: opened, format: '%d.%m.%Y', minus_days: 1.5}",
        )
    )
    header = TINY_HEADER.rstrip("\n") + ",opened\n"
    text = header + "D1,a,Ann,Acme,GTX,Won,10,2.25,-3,01.02.2018\n"
    _tiny_export(settings.resolved_landing_dir, EXPORT_DAY, text)
    with pytest.raises(IngestError) as caught:  # 01.02.2018 is no ISO timestamp for last_modified_at
        ingest_export(EXPORT_DAY, _settings(settings, mapping))
    assert caught.value.column == "opened"
    mapping.write_text(
        mapping.read_text().replace(
            "{column: opened, plus_days", "{column: opened, format: '%d.%m.%Y', plus_days"
        )
    )
    day = EXPORT_DAY + timedelta(days=1)
    _tiny_export(settings.resolved_landing_dir, day, text)
    ingest_export(day, _settings(settings, mapping))
    assert query(
        settings, "select close_date::varchar, last_modified_at::varchar from raw.opportunities"
    ) == [("2018-01-05", "2018-02-03 06:00:00")]
    assert query(settings, "select changed_at::varchar from raw.opportunity_stage_history") == [
        ("2018-01-30 12:00:00",)
    ]
    day += timedelta(days=1)
    _tiny_export(settings.resolved_landing_dir, day, text + "D2,b,Bob,Acme,MG,Lost,0,four,4,01.02.2018\n")
    with pytest.raises(IngestError) as caught:
        ingest_export(day, _settings(settings, mapping))
    assert (caught.value.line, caught.value.column) == (3, "engaged_days_ago")
    assert "'four' is not a valid DOUBLE" in caught.value.message


def test_duplicate_key_error_on_real_salesforce_history(settings, tmp_path):
    """The devorg's OpportunityHistory has two rows per opportunity in one second (31 keys): without
    latest_by or unique_by, the error counts them, shows the first three with their lines and
    names the options that resolve them."""
    text = (MAPPINGS / "salesforce.yml").read_text()
    text = text.replace("    unique_by: [Id]", "    # unique_by removed").replace(
        "    latest_by: [Id]", "    # latest_by removed"
    )
    assert "unique_by: [Id]" not in text and "latest_by: [Id]" not in text
    mapping = tmp_path / "salesforce.yml"
    mapping.write_text(text)
    day = date(2018, 10, 15)
    land_dataset(settings.resolved_landing_dir, day, "sfdc_devorg_sample")
    with pytest.raises(IngestError) as caught:
        ingest_export(day, _settings(settings, mapping))
    error = caught.value
    assert error.file.endswith("OpportunityHistory.csv") and error.column == "OpportunityId"
    assert error.message.startswith("duplicate key: 31 keys repeat (")
    assert error.message.count("on lines [") == 3 and "; ...)" in error.message
    for option in ("opportunity_stage_history.aggregate", "latest_by", "unique_by"):
        assert option in error.message


BAD = """\
layout: bad
sources:
  deals: {file: deals.csv, required: true}
entities:
  opportunities:
    from: deals
    aggregat: {columns: {amount: sum}}
    columns:
      opportunity_id: id
      stage: {column: stage, trim: maybe}
  stages:
    rows: []
"""


def test_mapping_check_lists_every_problem_one_line_each(tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD)
    assert main(["mapping", "check", str(bad)]) == 2
    lines = sorted(capsys.readouterr().err.strip().splitlines(), key=lambda line: "trim" in line)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{bad}: entities.opportunities.aggregat (line 7): unknown option 'aggregat'")
    assert (
        "(allowed: from, rows, columns, lookups, where, events, unique_by, latest_by, distinct, aggregate"
        in lines[0]
    )
    assert "entities.opportunities.columns.stage.trim (line 10)" in lines[1]
    assert main(["mapping", "check", str(MAPPINGS / "maven_crm_pipeline.yml")]) == 0
    assert "layout maven_crm_pipeline is valid" in capsys.readouterr().out


def test_mapping_check_against_an_export_reads_headers_only(tmp_path, capsys):
    folder = dataset_dir("maven_crm_pipeline")
    assert main(["mapping", "check", str(MAPPINGS / "maven_crm_pipeline.yml"), "--export", str(folder)]) == 0
    broken = tmp_path / "maven_crm_pipeline.yml"
    broken.write_text(
        (MAPPINGS / "maven_crm_pipeline.yml").read_text().replace("amount: close_value", "amount: close_valu")
    )
    assert main(["mapping", "check", str(broken), "--export", str(folder)]) == 2
    err = capsys.readouterr().err
    assert (
        "entities.opportunities: file " in err
        and "sales_pipeline.csv, line 1, column 'close_valu': required column" in err
    )
    # Another layout's mapping: the export lacks its files.
    olist = MAPPINGS / "olist_marketing_funnel.yml"
    assert main(["mapping", "check", str(olist), "--export", str(folder)]) == 2
    assert "export is missing required file(s) for opportunities" in capsys.readouterr().err
    # As a command: no traceback, exit code 2.
    done = subprocess.run(
        [sys.executable, "-m", "pipecast.cli", "mapping", "check", str(broken), "--export", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and "close_valu" in done.stderr
