"""Per-deal drivers: which of a deal's traits move its win probability most, and which way.

Two ways, both in log-odds against a typical deal. A boosted model (the stage chain, the
snapshot model, the lead model) reads them off its trees (``predict_with_drivers``,
pipecast.forecast.tree_paths): each split on a deal's path credits its feature with the move it
makes, the credits add up to the deal's score less the model's expected score, at about one
prediction's cost. Every other model gets swaps (``driver_effects``): for each driver (a group of
related features, e.g. "deal size" = amount and its changes) the deal's probability is recomputed
with that group's values swapped for those of a few background deals drawn from the scored
population, and the driver's effect is the deal's log-odds minus the mean log-odds over those
swaps. Positive: this trait makes the deal likelier to win than a typical deal's value would;
negative: less likely. Swaps are an interventional, one-group-at-a-time attribution: effects of
correlated traits are not split between them and need not add up to the total, which is what a
"top drivers" list needs.

Features a mapping declares (``mapped__<name>`` columns) are drivers of their own, named by their
declared name (``occupation = Working Professional``), when the model uses them; a declared
name that is also a built-in driver's gets " (mapped)" after it.

Cost of swaps: up to groups x background rows predictions per deal, chunked; a swap that leaves a
deal's values as they are is not predicted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipecast.forecast import parallel
from pipecast.mapped_features import feature_name

log = logging.getLogger(__name__)

DRIVERS: dict[str, list[str]] = {
    "stage": ["stage", "stage_rank", "forecast_category", "crm_probability"],
    "segment": ["segment"],
    "industry": ["industry"],
    "lead source": ["lead_source"],
    "deal type": ["opportunity_type"],
    "product": ["product_id", "product_family"],
    "region": ["region"],
    "company size": ["log_employees"],
    "deal size": ["log_amount", "amount_change_ratio", "amount_changes"],
    "discount": ["price_ratio"],
    "owner's record": ["owner_lift"],
    "account's record": ["account_lift"],
    "time in stage": ["days_in_stage"],
    "deal age": ["age_days", "stage_changes"],
    "close date": ["days_to_close_date", "close_date_pushes", "close_date_slip_days"],
}
# How a driver's value is shown beside its name.
SHOWN: dict[str, str] = {
    "stage": "stage",
    "segment": "segment",
    "industry": "industry",
    "lead source": "lead_source",
    "deal type": "opportunity_type",
    "product": "product_id",
    "region": "region",
    "deal size": "amount",
    "discount": "price_ratio",
    "owner's record": "owner_lift",
    "account's record": "account_lift",
    "time in stage": "days_in_stage",
    "deal age": "age_days",
    "close date": "days_to_close_date",
}
TOP = 3
EPS = 1e-4
MAPPED_SUFFIX = " (mapped)"


def mapped_drivers(features: list[str], taken: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """One driver per declared feature among ``features``, named by its declared name."""
    taken = DRIVERS if taken is None else taken
    out: dict[str, list[str]] = {}
    for column in features:
        name = feature_name(column)
        if name is not None:
            out[name + MAPPED_SUFFIX if name in taken else name] = [column]
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def driver_groups(features: list[str], drivers: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """The drivers (default DRIVERS) with the columns of each among ``features``, declared features
    added as drivers of their own; drivers without a column left out."""
    base = DRIVERS if drivers is None else drivers
    groups = {name: [c for c in cols if c in features] for name, cols in base.items()}
    groups |= mapped_drivers(features, base)
    return {name: cols for name, cols in groups.items() if cols}


def predict_with_drivers(
    model: Any,
    rows: pd.DataFrame,
    features: list[str],
    background: int = 5,
    seed: int = 0,
    drivers: dict[str, list[str]] | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """(``model.predict(rows)``, (rows x drivers) log-odds effects on that probability).

    A model with ``predict_with_effects`` (the boosted win models, the lead model) answers both
    from one pass over its trees' decision paths, about one prediction's time; a row it cannot
    answer for (NaN: a deal whose stage is outside the funnel) and every other model get the swaps
    of ``driver_effects``, against background rows drawn from all of ``rows``. Both measure a
    driver against a typical row: tree paths against the training rows' expectation, swaps
    against ``background`` scored rows (README, "drivers": how far they agree).
    """
    groups = driver_groups(features, drivers)
    native = getattr(model, "predict_with_effects", None)
    answered = native(rows, groups) if native is not None and len(rows) else None
    if answered is None:
        predicted = np.asarray(model.predict(rows), dtype=float)
        return predicted, driver_effects(model.predict, rows, features, background, seed, drivers=drivers)
    predicted, values = answered
    effects = pd.DataFrame(values, index=rows.index, columns=list(groups), dtype=float)
    unanswered = effects.isna().all(axis=1).to_numpy()
    if unanswered.any():
        swaps = driver_effects(
            model.predict, rows[unanswered], features, background, seed, drivers=drivers, population=rows
        )
        effects.loc[unanswered] = swaps[effects.columns]
    return predicted, effects


def driver_effects(
    predict: Callable[[pd.DataFrame], np.ndarray],
    deals: pd.DataFrame,
    features: list[str],
    background: int = 5,
    seed: int = 0,
    chunk: int = 2_000,
    drivers: dict[str, list[str]] | None = None,
    population: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """(deals x drivers) log-odds effects of the drivers the model uses.

    Per chunk of deals, every (driver, background value) variant goes through the model in one
    call. A variant is only predicted for the deals whose values it changes: where a deal already
    has the background row's value its swap changes nothing and adds 0 to the effect; background
    rows sharing a driver's values are one variant, counted as often as they occur.
    ``drivers``: the groups (default DRIVERS, a deal's); declared features are added to them.
    ``population``: the scored deals the background rows are drawn from (default ``deals``).
    """
    groups = driver_groups(features, drivers)
    effects = pd.DataFrame(index=deals.index, columns=list(groups), dtype=float)
    if deals.empty or not groups:
        return effects
    rng = np.random.default_rng(seed)
    population = deals if population is None else population
    reference = population.iloc[
        rng.choice(len(population), size=min(background, len(population)), replace=False)
    ]
    swaps = [
        (g, cols, values, count)
        for g, cols in enumerate(groups.values())
        for values, count in _distinct(reference[cols])
    ]
    for start in range(0, len(deals), chunk):
        part = deals.iloc[start : start + chunk].reset_index(drop=True)
        variants, plan = [], []
        for g, cols, values, count in swaps:
            rows = np.flatnonzero(_differs(part[cols], values))
            if rows.size:
                variant = part.iloc[rows].copy()
                for col, value in zip(cols, values, strict=True):
                    variant[col] = value
                variants.append(variant)
                plan.append((g, rows, count))
        logits = _logit(np.asarray(predict(pd.concat([part, *variants], ignore_index=True)), dtype=float))
        base = logits[: len(part)]
        summed = np.zeros((len(part), len(groups)))
        offset = len(part)
        for g, rows, count in plan:
            summed[rows, g] += count * (base[rows] - logits[offset : offset + rows.size])
            offset += rows.size
        effects.iloc[start : start + len(part)] = summed / len(reference)
    return effects


def _distinct(values: pd.DataFrame) -> list[tuple[tuple, int]]:
    """The distinct rows of ``values`` (missing values equal to each other) and how often each occurs."""
    counts: dict[tuple, int] = {}
    originals: dict[tuple, tuple] = {}
    for row in values.itertuples(index=False, name=None):
        key = tuple("<missing>" if pd.isna(v) else v for v in row)
        counts[key] = counts.get(key, 0) + 1
        originals.setdefault(key, row)
    return [(originals[key], n) for key, n in counts.items()]


def _differs(frame: pd.DataFrame, values: tuple) -> np.ndarray:
    """Rows of ``frame`` whose values are not ``values`` (a missing value equals a missing one)."""
    differs = np.zeros(len(frame), dtype=bool)
    for col, value in zip(frame.columns, values, strict=True):
        column = frame[col]
        if pd.isna(value):
            differs |= column.notna().to_numpy()
        else:
            differs |= ~(column == value).fillna(False).to_numpy(dtype=bool)
    return differs


def _label(driver: str, value: object) -> str:
    """The driver and the deal's value of it, e.g. 'deal size = 12,000' (the name alone without one)."""
    if isinstance(value, float):
        shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    else:
        shown = str(value)
    return f"{driver} = {shown}" if shown else str(driver)


def _shown_column(name: str, shown: dict[str, str]) -> str | None:
    if name in shown:
        return shown[name]
    return f"mapped__{name.removesuffix(MAPPED_SUFFIX)}"


def _labels(driver: str, values: pd.Series) -> np.ndarray:
    """``_label`` of each of ``values``, made once per distinct value as the deal's own value would
    make it: floats told apart by their bits (-0.0 is not 0.0), other values by value and type (1 is
    not 1.0 or True; None, NaN and pd.NA each read as themselves)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":
        codes, uniques = pd.factorize(values.to_numpy(dtype=np.float64).view(np.int64))
        shown = [_label(driver, float(u)) for u in np.asarray(uniques).view(np.float64)]
        return np.array(shown, dtype=object)[codes]
    if isinstance(values.dtype, pd.StringDtype):  # text and one kind of missing value
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        shown = [*(_label(driver, u) for u in uniques), _label(driver, values.dtype.na_value)]
        return np.array(shown, dtype=object)[codes]  # code -1: the last, missing
    objects = values.to_numpy(dtype=object)
    kinds = pd.factorize(np.array([type(v).__name__ for v in objects], dtype=object))[0]
    by_value = pd.factorize(objects, use_na_sentinel=True)[0]
    _, first, codes = np.unique(
        (by_value.astype(np.int64) + 1) * (int(kinds.max(initial=0)) + 1) + kinds,
        return_index=True,
        return_inverse=True,
    )
    return np.array([_label(driver, objects[i]) for i in first], dtype=object)[codes.ravel()]


def top_drivers(
    deals: pd.DataFrame, effects: pd.DataFrame, top: int = TOP, shown_columns: dict[str, str] | None = None
) -> pd.DataFrame:
    """driver_1..top ("name = value"), driver_1_effect.. (log-odds), and all effects as JSON.
    ``shown_columns``: the column whose value is shown beside each driver (default SHOWN; a
    declared feature shows its own value, "missing" where it has none). Each driver's label is
    made once per distinct value it shows."""
    out = pd.DataFrame(index=deals.index)
    names = effects.columns.to_numpy()
    values = effects.to_numpy(dtype=float)
    order = np.argsort(-np.abs(np.nan_to_num(values)), axis=1) if values.size else np.empty((len(deals), 0))
    shown = SHOWN if shown_columns is None else shown_columns
    rows = np.arange(len(deals))
    for k in range(top):
        if k < order.shape[1]:
            chosen = order[:, k]
            labels = np.empty(len(deals), dtype=object)
            for j in np.unique(chosen):
                at = np.flatnonzero(chosen == j)
                column = _shown_column(str(names[j]), shown)
                if column in deals:
                    value = deals[column].iloc[at]
                    if feature_name(column):
                        value = value.astype(object).where(value.notna(), "missing")
                    labels[at] = _labels(str(names[j]), value)
                else:
                    labels[at] = _label(names[j], "")
            out[f"driver_{k + 1}"] = labels
            out[f"driver_{k + 1}_effect"] = values[rows, chosen]
        else:
            out[f"driver_{k + 1}"] = None
            out[f"driver_{k + 1}_effect"] = None
    out["drivers"] = _effects_json(effects)
    return out


def _effects_json(effects: pd.DataFrame) -> np.ndarray:
    """Each row's effects as a JSON object, rounded to 4 decimals; a missing effect left out.
    DuckDB writes the objects (json_object; 1M deals x 14 drivers: 0.5 s, against 9 s through
    pandas' to_json and a split into lines); a row with a missing effect is written in Python."""
    rounded = effects.astype(float).round(4)
    if rounded.empty:
        return np.array([json.dumps({}) for _ in range(len(rounded))], dtype=object)
    columns = pd.DataFrame(rounded.to_numpy(), columns=[f"c{j}" for j in range(rounded.shape[1])])
    # keys as string values, not identifiers: DuckDB's identifiers ignore case, and a mapped driver
    # "Industry" beside the built-in "industry" are two keys
    keys = ["'" + str(name).replace("'", "''") + "'" for name in rounded.columns]
    pairs = ", ".join(f"{key}, c{j}" for j, key in enumerate(keys))
    with duckdb.connect() as con:
        con.execute(f"set threads = {parallel.allowed_threads()}")
        con.register("effects", columns)
        query = f"select json_object({pairs})::varchar as drivers from effects"
        out = con.sql(query).fetchnumpy()["drivers"].astype(object)
    for i in np.flatnonzero(~np.isfinite(rounded.to_numpy()).all(axis=1)):
        out[i] = json.dumps({n: v for n, v in rounded.iloc[i].items() if np.isfinite(v)}, ensure_ascii=False)
    return out
