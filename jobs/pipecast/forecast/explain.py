"""Per-deal drivers: which of a deal's traits move its win probability most, and which way.

scikit-learn only (no SHAP dependency): for each driver (a group of related features, e.g. "deal
size" = amount and its changes) the deal's probability is recomputed with that group's values
swapped for those of a few background deals drawn from the scored population, and the driver's
effect is the deal's log-odds minus the mean log-odds over those swaps. Positive: this trait makes
the deal likelier to win than a typical deal's value would; negative: less likely. It is an
interventional, one-group-at-a-time attribution: effects of correlated traits are not split
between them and need not add up to the total, which is what a "top drivers" list needs.

Cost: groups x background rows predictions per deal, chunked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

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


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def driver_effects(
    predict: Callable[[pd.DataFrame], np.ndarray],
    deals: pd.DataFrame,
    features: list[str],
    background: int = 5,
    seed: int = 0,
    chunk: int = 2_000,
) -> pd.DataFrame:
    """(deals x drivers) log-odds effects of the drivers the model uses.

    Per chunk of deals, every (driver, background row) variant goes through the model in one call.
    """
    groups = {name: [c for c in cols if c in features] for name, cols in DRIVERS.items()}
    groups = {name: cols for name, cols in groups.items() if cols}
    effects = pd.DataFrame(index=deals.index, columns=list(groups), dtype=float)
    if deals.empty or not groups:
        return effects
    rng = np.random.default_rng(seed)
    reference = deals.iloc[rng.choice(len(deals), size=min(background, len(deals)), replace=False)]
    for start in range(0, len(deals), chunk):
        part = deals.iloc[start : start + chunk].reset_index(drop=True)
        variants = []
        for cols in groups.values():
            for _, ref in reference.iterrows():
                variant = part.copy()
                for col in cols:
                    variant[col] = ref[col]
                variants.append(variant)
        swapped = _logit(np.asarray(predict(pd.concat([part, *variants], ignore_index=True)), dtype=float))
        base, rest = swapped[: len(part)], swapped[len(part) :]
        rest = rest.reshape(len(groups), len(reference), len(part)).mean(axis=1)
        effects.iloc[start : start + len(part)] = (base[None, :] - rest).T
    return effects


def _shown(deal: pd.Series, driver: str) -> str:
    column = SHOWN.get(driver)
    if column is None or column not in deal:
        return ""
    value = deal[column]
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def top_drivers(deals: pd.DataFrame, effects: pd.DataFrame, top: int = TOP) -> pd.DataFrame:
    """driver_1..top ("name = value"), driver_1_effect.. (log-odds), and all effects as JSON."""
    out = pd.DataFrame(index=deals.index)
    names = effects.columns.to_numpy()
    values = effects.to_numpy(dtype=float)
    order = np.argsort(-np.abs(np.nan_to_num(values)), axis=1) if values.size else np.empty((len(deals), 0))
    for k in range(top):
        labels, sizes = [], []
        for i, (_, deal) in enumerate(deals.iterrows()):
            if k < order.shape[1]:
                j = order[i, k]
                shown = _shown(deal, names[j])
                labels.append(f"{names[j]} = {shown}" if shown else names[j])
                sizes.append(float(values[i, j]))
            else:
                labels.append(None)
                sizes.append(None)
        out[f"driver_{k + 1}"] = labels
        out[f"driver_{k + 1}_effect"] = sizes
    out["drivers"] = [
        json.dumps({n: round(float(v), 4) for n, v in zip(names, row, strict=True) if np.isfinite(v)})
        for row in values
    ]
    return out
