"""Comparing warehouse tables read into pandas, across builds and across databases."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

# Build metadata of the incremental stage exits and owners' / accounts' records: when the dbt run
# that wrote a row started (differs between any two runs, e.g. on PostgreSQL and on DuckDB) ...
RUN_STARTED_COLUMNS = ["built_at", "exits_built_at"]
# ... and which build wrote it and from when (differs between an incremental build and a full refresh)
BUILD_METADATA = ["built_export_date", "recomputed_from", "visits_watermark", *RUN_STARTED_COLUMNS]


def normalised(frame: pd.DataFrame, keys: Iterable[str], drop: Iterable[str] = ()) -> pd.DataFrame:
    """Columns in name order, rows in key order, one representation per kind of value (DuckDB and
    psycopg return dates, decimals and nulls differently)."""
    frame = frame.drop(columns=[c for c in drop if c in frame.columns])
    out = pd.DataFrame(index=frame.index)
    for column in sorted(frame.columns):
        values = frame[column]
        sample = values.dropna()
        first = sample.iloc[0] if len(sample) else None
        if pd.api.types.is_bool_dtype(values) or isinstance(first, bool):
            out[column] = values.astype(object).where(values.notna(), None)
        elif pd.api.types.is_datetime64_any_dtype(values) or hasattr(first, "isoformat"):
            out[column] = pd.to_datetime(values).astype("datetime64[ns]")
        elif pd.api.types.is_numeric_dtype(values) or (first is not None and _is_number(first)):
            out[column] = pd.to_numeric(values).astype("float64")
        else:
            out[column] = values.astype(object).where(values.notna(), None)
    return out.sort_values(list(keys)).reset_index(drop=True)


def _is_number(value: object) -> bool:
    try:
        float(value)  # Decimal, numpy numbers
    except (TypeError, ValueError):
        return False
    return not isinstance(value, str)


def assert_same_rows(
    left: pd.DataFrame, right: pd.DataFrame, keys: Iterable[str], drop: Iterable[str] = ()
) -> None:
    """Same columns and the same rows (floats to a relative 1e-9)."""
    keys = list(keys)
    a, b = normalised(left, keys, drop), normalised(right, keys, drop)
    assert list(a.columns) == list(b.columns), "columns differ"
    assert len(a) == len(b), f"{len(a)} rows vs {len(b)}"
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-6)
