"""The per-dataset accuracy table: its rows, and its section of BENCHMARKS.md replaced in place."""

from __future__ import annotations

from accuracy_by_dataset import SECTION, CaseResult, kept_section, replace_section, table


def case(**overrides) -> CaseResult:
    values = dict(
        case="maven",
        source="datasets/maven_crm_pipeline",
        deals=8800,
        open_deals=2089,
        champion="stage_calibrated",
        fallback=None,
        cutoffs=["2017-05-31", "2017-06-30"],
        deals_pooled={
            "true_probability": {"brier": 0.18, "auc": 0.8, "ece": 0.01, "n": 100},
            "candidate_stage_chain": {"brier": 0.23, "auc": 0.46, "ece": 0.09, "n": 100},
            "stage_weighted": {"brier": 0.30, "auc": 0.5, "ece": 0.28, "n": 100},
            "model": {"brier": 0.24, "auc": 0.52, "ece": 0.06, "n": 100},
        },
        coverage=2 / 3,
        coverage_inside=6,
        coverage_n=9,
    )
    return CaseResult(**{**values, **overrides})


def test_rows_put_the_champion_and_the_crm_first_and_the_truth_last():
    rows = [line for line in table([case()]) if line.startswith("| ")][1:]
    names = [row.split(" | ")[4] for row in rows]
    assert names == ["model", "stage_weighted", "candidate_stage_chain", "true_probability"]
    assert "-20.0%" in rows[0] and "67% (6 of 9)" in rows[0] and "2017-05-31, 2017-06-30" in rows[0]
    assert rows[1].split(" | ")[9] == ""  # the baseline is not compared with itself


def test_a_night_without_backtest_and_a_failed_case_are_said():
    lines = table(
        [
            case(cutoffs=[], fallback="no backtest | x" + "y" * 200),
            case(case="x", deals_pooled={}, error="boom"),
        ]
    )
    text = "\n".join(lines)
    assert "none (no backtest)" in text and "(fallback: no backtest (and more))" in text
    assert "| x | datasets/maven_crm_pipeline | failed: boom |" in text


def test_the_section_is_replaced_in_place_and_kept_on_a_rewrite():
    old = f"# pipecast benchmarks\n\n## Goals\n\nx\n\n{SECTION}\n\nold table\n\n## After\n\ny\n"
    new = replace_section(old, [SECTION, "", "new table", ""])
    assert "old table" not in new and "new table" in new
    assert new.index("## Goals") < new.index(SECTION) < new.index("## After")
    assert kept_section(new) == [SECTION, "", "new table", ""]
    appended = replace_section("# pipecast benchmarks\n", [SECTION, "", "t", ""])
    assert appended.endswith(f"{SECTION}\n\nt\n") and kept_section("# nothing\n") == []
