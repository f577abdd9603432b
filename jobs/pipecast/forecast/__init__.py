"""Forecasting jobs: calibrated deal scores, close timing, revenue ranges, product propensity and
lead scores, each measured on history against the CRM's stage-weighted baseline.

Entry point: ``pipecast.forecast.job.run_forecast(as_of, settings) -> ForecastResult`` (the CLI's
``pipecast forecast`` and the DAG's forecast task call it through ``pipeline.forecast``).

The job (``job``) is a chain over the models registered in ``job.MODELS``: each a
``model_spec.ForecastModel`` (backtest, select, fit, score, its rows and their ml tables, its
ml.model_runs row), one module each in ``models/``; ``model_runs`` writes ml.model_runs.

Modules, in the order the night uses them:

* ``features``: point-in-time features in SQL (snapshots of open deals at cut-offs, stage visits
  and exits; a close date the history lacks from the opportunity row as its export showed it),
  ``sources`` (optional entities: staging view, else newest raw export, else empty), ``periods``.
* ``win_models``: win probability recipes, ``stage_chain`` (product of calibrated stage-advance
  probabilities, learned from every stage exit: no wait for final outcomes), ``stage_hazard``
  (``survival``: per-interval hazards of advancing and being lost in each stage with the time in
  stage, deals still open counted as censored, not lost: for short histories, where the exits
  seen are mostly the fast ones) and ``snapshot`` (direct, on mature month-end snapshots with
  the deal's dynamics); ``estimators``: calibrated gradient boosting with small-data fallbacks.
* ``close_timing``: P(closes this / next period / later | won); censoring handled by weighting
  deals still open at the training date by their win probability; with too little data, the CRM
  close date moved by the slips seen in the history (a logged fallback, never uniform buckets).
* ``new_business``: revenue from deals not created yet (creation rate x won-within-u-days curve).
* ``revenue`` and ``scoring``: Monte-Carlo of win x timing x amount per open deal plus new
  business, P10/P50/P90 per segment, beside stage-weighted, commit and best case.
* ``explain``: per-deal top drivers (background-swap log-odds effects, scikit-learn only).
* ``propensity`` (account x product, 180 days) and ``lead_scoring`` (lead -> opportunity, 90 days).
* ``backtests``: deal-level (Brier, log loss, AUC, ECE, reliability bins) and period revenue
  (forecast ledger, WAPE, bias, P10-P90 coverage) at past cut-offs, models trained as of each.
* ``registry``: model versions (joblib + ml.model_runs + MLflow on SQLite) and champion/challenger.
* ``writeback`` (ml.* tables), ``marts`` (dbt build of models/forecast), ``charts`` (report charts).

Settings: ``PIPECAST_FORECAST_*`` (see config.Settings).
"""
