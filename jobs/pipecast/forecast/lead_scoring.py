"""Lead scores: how likely an unconverted lead is to become an opportunity within 90 days.

Training rows are the leads not converted at past month-ends (created in the 180 days before), with
features as of then: source, campaign (its year suffix removed, so "Webinar Series 2026" learns
from "Webinar Series 2025"), age, the weekday and month it came in, and ordered statistics of
the conversion record of its source, campaign and owner over the leads created at least 90 days
before the cut-off (whose 90-day outcome was known then). The label: converted within the next
90 days, so a month-end is used only once 90 days have passed.

Limitation: the canonical model dates a conversion (converted_at) but not a disqualification, so
a past lead's status at a cut-off is not known; leads disqualified before a cut-off are training
rows as if still open there, which lowers scores for every lead alike (ranking is unaffected). The
nightly run scores the leads whose status is still open (neither converted nor closed).

Features a mapping declares on leads (``features:``, pipecast.mapped_features) join the rows as
``mapped__<name>`` columns, each lead's values as the newest export on or before the cut-off
showed them (scoring: as of the night); categories enter the boosting with levels seen fewer than
``estimators.MIN_LEVEL_ROWS`` times pooled, numbers with missing values routed natively. Without
declarations the model is the one above. ``drivers`` names what moves a lead's score, declared
features by their declared names.

The baseline is the source's conversion rate over the same known leads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from pipecast import mapped_features
from pipecast.forecast import explain, sources, tree_paths
from pipecast.forecast.estimators import ProbabilityModel, fit_classifier, tidy_columns
from pipecast.forecast.features import SAMPLE_BUCKETS

log = logging.getLogger(__name__)

MODEL_NAME = "lead_conversion"
HORIZON_DAYS = 90
LOOKBACK_DAYS = 180
PRIOR_LEADS = 30.0
CATEGORIES = ["lead_source", "campaign_family"]
NUMBERS = ["age_days", "created_weekday", "created_month", "source_rate", "campaign_rate", "owner_rate"]
FEATURES = [*CATEGORIES, *NUMBERS]
# Statuses that mean a lead is no longer worked (case-insensitive).
# Drivers of a lead's score (explain.driver_effects groups); declared features are added to them.
LEAD_DRIVERS: dict[str, list[str]] = {
    "lead source": ["lead_source", "source_rate"],
    "campaign": ["campaign_family", "campaign_rate"],
    "owner's record": ["owner_rate"],
    "lead age": ["age_days", "created_weekday", "created_month"],
}
LEAD_SHOWN = {"lead source": "lead_source", "campaign": "campaign_family", "lead age": "age_days"}
CLOSED_STATUSES = ("converted", "disqualified", "unqualified", "closed", "lost", "junk", "recycled")


def _sql(con: duckdb.DuckDBPyConnection, sample_permille: int, open_only: bool) -> str:
    leads = sources.relation(con, "leads")
    closed = ", ".join(f"'{s}'" for s in CLOSED_STATUSES)
    status_filter = f"and lower(coalesce(l.status, 'open')) not in ({closed})" if open_only else ""
    return f"""
with cutoffs as (select cast(c as date) as cutoff from unnest(cast(? as date[])) as t(c)),
base as (
    select lead_id, created_at, cast(created_at as date) as created,
           coalesce(lead_source, 'Unknown') as lead_source,
           coalesce(regexp_replace(campaign, '\\s*\\d{{4}}$', ''), 'Unknown') as campaign_family,
           coalesce(owner_id, 'Unknown') as owner_id, cast(converted_at as date) as converted,
           status, campaign
    from {leads}
    where created_at is not null
),
rows as (
    select c.cutoff, l.*
    from cutoffs c join base l
      on l.created <= c.cutoff and l.created > c.cutoff - interval {LOOKBACK_DAYS} day
     and (l.converted is null or l.converted > c.cutoff)
     {status_filter}
    where (hash(l.lead_id) % {SAMPLE_BUCKETS}) < {sample_permille}
),
-- conversion records from leads whose 90-day outcome was known at the cut-off
known as (
    select c.cutoff, l.lead_source, l.campaign_family, l.owner_id,
           case when l.converted is not null and l.converted <= l.created + interval {HORIZON_DAYS} day
                then 1.0 else 0.0 end as converted_in_time
    from cutoffs c join base l on l.created <= c.cutoff - interval {HORIZON_DAYS} day
),
overall as (select cutoff, avg(converted_in_time) as rate from known group by cutoff),
by_source as (
    select cutoff, lead_source, sum(converted_in_time) as s, count(*) as n from known group by 1, 2
),
by_campaign as (
    select cutoff, campaign_family, sum(converted_in_time) as s, count(*) as n from known group by 1, 2
),
by_owner as (select cutoff, owner_id, sum(converted_in_time) as s, count(*) as n from known group by 1, 2)
select r.cutoff, r.lead_id, r.lead_source, r.campaign, r.campaign_family, r.owner_id, r.created_at, r.status,
       date_diff('day', r.created, r.cutoff) as age_days,
       dayofweek(r.created_at) as created_weekday, month(r.created_at) as created_month,
       (coalesce(s.s, 0) + {PRIOR_LEADS} * coalesce(o.rate, 0)) / (coalesce(s.n, 0) + {PRIOR_LEADS})
           as source_rate,
       (coalesce(cp.s, 0) + {PRIOR_LEADS} * coalesce(o.rate, 0)) / (coalesce(cp.n, 0) + {PRIOR_LEADS})
           as campaign_rate,
       (coalesce(w.s, 0) + {PRIOR_LEADS} * coalesce(o.rate, 0)) / (coalesce(w.n, 0) + {PRIOR_LEADS})
           as owner_rate,
       case when r.converted is not null and r.converted <= r.cutoff + interval {HORIZON_DAYS} day
            then 1 else 0 end as converted_within
from rows r
left join overall o on o.cutoff = r.cutoff
left join by_source s on s.cutoff = r.cutoff and s.lead_source = r.lead_source
left join by_campaign cp on cp.cutoff = r.cutoff and cp.campaign_family = r.campaign_family
left join by_owner w on w.cutoff = r.cutoff and w.owner_id = r.owner_id
order by r.cutoff, r.lead_id
"""


def lead_rows(
    con: duckdb.DuckDBPyConnection, cutoffs: list[date], max_rows: int | None = None, open_only: bool = False
) -> pd.DataFrame:
    """Unconverted leads at each cut-off with features as of then and ``converted_within``."""
    permille = SAMPLE_BUCKETS
    if max_rows is not None and cutoffs:
        total = con.execute(f"select count(*) from {sources.relation(con, 'leads')}").fetchone()[0]
        rows = max(total * len(cutoffs) // 4, 1)  # about a quarter of the leads are in a window
        permille = max(1, min(SAMPLE_BUCKETS, int(SAMPLE_BUCKETS * max_rows / rows)))
    frame = con.execute(_sql(con, permille, open_only), [cutoffs]).df()
    return mapped_features.attach(con, tidy_columns(frame, CATEGORIES, NUMBERS), "leads")


@dataclass
class LeadModel:
    classifier: ProbabilityModel
    train_rows: int

    @property
    def features(self) -> list[str]:
        return self.classifier.features

    def predict(self, leads: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_positive(leads) if len(leads) else np.array([])

    def predict_with_effects(
        self, leads: pd.DataFrame, groups: dict[str, list[str]]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(``predict``, (leads x groups) log-odds effects) from the classifier's tree paths in one
        pass (None: not boosted)."""
        return tree_paths.classifier_effects(self.classifier, leads, groups)


def fit(train: pd.DataFrame, seed: int = 0, use_declared: bool = True) -> LeadModel:
    """The lead model on ``train`` (lead_rows), with the declared features it carries unless
    ``use_declared`` is false."""
    pooled, numeric = mapped_features.mapped_columns(train) if use_declared else ([], [])
    classifier = fit_classifier(
        train,
        train["converted_within"].to_numpy(dtype=int),
        CATEGORIES,
        [*NUMBERS, *numeric],
        [0, 1],
        seed=seed,
        name=MODEL_NAME,
        groups=train["lead_id"],
        pooled=pooled,
    )
    return LeadModel(classifier, len(train))


WITHOUT_DECLARED = "without_declared_features"


def without_declared(train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> dict[str, np.ndarray]:
    """For the backtest, beside the model: the same model without the declared features, scored
    on ``test`` ({WITHOUT_DECLARED: scores}); empty when no feature is declared."""
    if mapped_features.mapped_columns(train) == ([], []) or test.empty:
        return {}
    return {WITHOUT_DECLARED: fit(train, seed, use_declared=False).predict(test)}


def scored(model: LeadModel, leads: pd.DataFrame, background: int = 5, seed: int = 0) -> pd.DataFrame:
    """``leads`` (lead_rows) with their conversion probability, the source's rate beside it and
    driver_1..3 ("name = value"), their log-odds effects and all effects as JSON per lead
    (explain.top_drivers, declared features named by their declared name): the rows of
    ml.lead_scores but for the night's columns. Probability and drivers come from one pass of the
    model where it has one (explain.predict_with_drivers)."""
    if leads.empty:
        return leads.assign(conversion_probability=np.array([]), source_baseline=leads["source_rate"])
    p, effects = explain.predict_with_drivers(
        model, leads, model.features, background, seed, drivers=LEAD_DRIVERS
    )
    return pd.concat(
        [
            leads.assign(conversion_probability=p, source_baseline=leads["source_rate"]),
            explain.top_drivers(leads, effects, shown_columns=LEAD_SHOWN),
        ],
        axis=1,
    )


def training_cutoffs(month_ends: list[date], first_day: date, known_at: date) -> list[date]:
    return [
        c
        for c in month_ends
        if c >= first_day + timedelta(days=HORIZON_DAYS) and c + timedelta(days=HORIZON_DAYS) <= known_at
    ]
