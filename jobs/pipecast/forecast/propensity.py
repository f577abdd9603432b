"""Product propensity: how likely each account is to buy each product within the next 180 days.

Training rows are (account, product) pairs at past quarter-ends, with features as of then: the
account's segment, industry and size, its deals and wins so far and how recent they are, whether
it has bought this product (or its family) before and when, whether a deal for it is open, and the
product's share of recent wins in the account's segment. The label: a won deal for the product
closed within the following 180 days, so a quarter-end is used only once 180 days have passed.
A product comes from the deal's line items where the CRM exports them, else from the deal itself.
Accounts are sampled by a hash of their id to bound the training set.

The baseline is the segment's base rate for the product (the share of its accounts that bought
it within 180 days, over the training quarter-ends).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from pipecast.forecast import sources
from pipecast.forecast.estimators import ProbabilityModel, fit_classifier, tidy_columns
from pipecast.forecast.features import SAMPLE_BUCKETS

log = logging.getLogger(__name__)

MODEL_NAME = "product_propensity"
HORIZON_DAYS = 180
CATEGORIES = ["segment", "industry", "product_id", "product_family"]
NUMBERS = [
    "log_employees",
    "tenure_days",
    "deals_so_far",
    "wins_so_far",
    "days_since_last_deal",
    "days_since_last_win",
    "open_deals",
    "times_bought",
    "days_since_bought",
    "family_bought",
    "open_deal_for_product",
    "segment_share",
    "log_list_price",
]
FEATURES = [*CATEGORIES, *NUMBERS]


def _pairs_sql(con: duckdb.DuckDBPyConnection, sample_permille: int) -> str:
    """Per cut-off, from each deal's products, account and outcome (sources.DEAL_PRODUCTS): what
    had been created and won by then."""
    accounts = sources.relation(con, "accounts")
    return f"""
with cutoffs as (select cast(c as date) as cutoff from unnest(cast(? as date[])) as t(c)),
deal_products as (
    select opportunity_id, account_id, product_id, created_on as created, is_won, is_closed, close_date
    from {sources.DEAL_PRODUCTS}
),
catalogue as (
    select product_id, any_value(product_family) as product_family, any_value(list_price) as list_price
    from {sources.DEAL_PRODUCTS}
    group by product_id
),
account_list as (
    select a.account_id, a.segment, a.industry, a.employees, a.created_at
    from {accounts} a
    where (hash(a.account_id) % {SAMPLE_BUCKETS}) < {sample_permille}
),
account_state as (
    select c.cutoff, a.account_id, a.segment, a.industry,
           ln(1 + greatest(coalesce(a.employees, 0), 0)) as log_employees,
           date_diff('day', cast(coalesce(a.created_at, min(d.created)) as date), c.cutoff) as tenure_days,
           count(d.opportunity_id) as deals_so_far,
           count(d.opportunity_id) filter (where d.is_won and d.close_date <= c.cutoff) as wins_so_far,
           date_diff('day', max(d.created), c.cutoff) as days_since_last_deal,
           date_diff('day', max(d.close_date) filter (where d.is_won and d.close_date <= c.cutoff), c.cutoff)
               as days_since_last_win,
           count(d.opportunity_id) filter (where not d.is_closed or d.close_date > c.cutoff) as open_deals
    from cutoffs c
    join account_list a on a.created_at is null or cast(a.created_at as date) <= c.cutoff
    left join deal_products d on d.account_id = a.account_id and d.created <= c.cutoff
    group by c.cutoff, a.account_id, a.segment, a.industry, a.employees, a.created_at
),
pair_history as (
    select c.cutoff, d.account_id, d.product_id,
           count(*) filter (where d.is_won and d.close_date <= c.cutoff) as times_bought,
           date_diff('day', max(d.close_date) filter (where d.is_won and d.close_date <= c.cutoff), c.cutoff)
               as days_since_bought,
           max(case when not d.is_closed or d.close_date > c.cutoff then 1 else 0 end)
               as open_deal_for_product
    from cutoffs c join deal_products d on d.created <= c.cutoff
    group by c.cutoff, d.account_id, d.product_id
),
family_history as (
    select c.cutoff, d.account_id, k.product_family, 1 as family_bought
    from cutoffs c join deal_products d on d.is_won and d.close_date <= c.cutoff
    join catalogue k on k.product_id = d.product_id
    group by c.cutoff, d.account_id, k.product_family
),
segment_shares as (
    select c.cutoff, a.segment, d.product_id,
           count(*) / sum(count(*)) over (partition by c.cutoff, a.segment) as segment_share
    from cutoffs c
    join deal_products d
      on d.is_won and d.close_date <= c.cutoff and d.close_date > c.cutoff - interval 365 day
    join {accounts} a on a.account_id = d.account_id
    group by c.cutoff, a.segment, d.product_id
),
labels as (
    select c.cutoff, d.account_id, d.product_id, 1 as bought
    from cutoffs c join deal_products d
      on d.is_won and d.close_date > c.cutoff and d.close_date <= c.cutoff + interval {HORIZON_DAYS} day
    group by c.cutoff, d.account_id, d.product_id
)
select s.cutoff, s.account_id, k.product_id, k.product_family, s.segment, s.industry, s.log_employees,
       s.tenure_days, s.deals_so_far, s.wins_so_far, s.days_since_last_deal, s.days_since_last_win,
       s.open_deals,
       coalesce(ph.times_bought, 0) as times_bought, ph.days_since_bought,
       coalesce(ph.open_deal_for_product, 0) as open_deal_for_product,
       coalesce(fh.family_bought, 0) as family_bought,
       coalesce(ss.segment_share, 0) as segment_share,
       ln(1 + coalesce(k.list_price, 0)) as log_list_price,
       coalesce(l.bought, 0) as bought
from account_state s
cross join catalogue k
left join pair_history ph
    on ph.cutoff = s.cutoff and ph.account_id = s.account_id and ph.product_id = k.product_id
left join family_history fh
    on fh.cutoff = s.cutoff and fh.account_id = s.account_id and fh.product_family = k.product_family
left join segment_shares ss
    on ss.cutoff = s.cutoff and ss.segment = s.segment and ss.product_id = k.product_id
left join labels l on l.cutoff = s.cutoff and l.account_id = s.account_id and l.product_id = k.product_id
where s.deals_so_far > 0
order by s.cutoff, s.account_id, k.product_id
"""


def account_product_pairs(
    con: duckdb.DuckDBPyConnection, cutoffs: list[date], max_rows: int | None = None
) -> pd.DataFrame:
    """Pairs at each cut-off with features as of then and the label ``bought`` (known only for
    cut-offs at least HORIZON_DAYS old). ``max_rows`` samples accounts to bound the rows."""
    permille = SAMPLE_BUCKETS
    if max_rows is not None and cutoffs:
        accounts = con.execute(
            "select count(distinct account_id) from staging.stg_crm__opportunities "
            "where account_id is not null"
        ).fetchone()[0]
        products = con.execute(
            "select count(distinct product_id) from staging.stg_crm__opportunities"
        ).fetchone()[0]
        rows = max(accounts * max(products, 1) * len(cutoffs), 1)
        permille = max(1, min(SAMPLE_BUCKETS, int(SAMPLE_BUCKETS * max_rows / rows)))
    frame = con.execute(_pairs_sql(con, permille), [cutoffs]).df()
    return tidy_columns(frame, CATEGORIES, NUMBERS)


@dataclass
class PropensityModel:
    classifier: ProbabilityModel
    base_rates: pd.DataFrame  # segment x product -> rate
    train_rows: int

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_positive(pairs) if len(pairs) else np.array([])

    def baseline(self, pairs: pd.DataFrame) -> np.ndarray:
        rates = pairs.merge(self.base_rates, on=["segment", "product_id"], how="left")["base_rate"]
        overall = float(self.base_rates["base_rate"].mean()) if len(self.base_rates) else 0.0
        return rates.fillna(overall).to_numpy(dtype=float)


def fit(train: pd.DataFrame, seed: int = 0) -> PropensityModel:
    classifier = fit_classifier(
        train,
        train["bought"].to_numpy(dtype=int),
        CATEGORIES,
        NUMBERS,
        [0, 1],
        seed=seed,
        name=MODEL_NAME,
        groups=train["account_id"],
    )
    base = (
        train.groupby(["segment", "product_id"])["bought"].mean().rename("base_rate").reset_index()
        if len(train)
        else pd.DataFrame(columns=["segment", "product_id", "base_rate"])
    )
    return PropensityModel(classifier, base, len(train))


def training_cutoffs(first_day: date, known_at: date, quarter_ends: list[date]) -> list[date]:
    """Quarter-ends whose 180-day outcome is known at known_at (and a quarter into the history)."""
    return [
        c
        for c in quarter_ends
        if c >= first_day + timedelta(days=90) and c + timedelta(days=HORIZON_DAYS) <= known_at
    ]
