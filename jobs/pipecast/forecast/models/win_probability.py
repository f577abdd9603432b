"""Win probability: every candidate recipe, the CRM's stage probability and the calibrated stage
model among them, backtested at past cut-offs; the one that scored best (registry.select_champion)
retrained tonight. Publishes ``night.win`` for the models after it."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd

from pipecast.config import Settings
from pipecast.forecast import backtests, horizons, registry, stage_model, win_models
from pipecast.forecast.fallbacks import Fallbacks
from pipecast.forecast.model_spec import ForecastModel, ModelVersion, Night, WinPick, empty_metrics, pooled

log = logging.getLogger(__name__)


class WinProbability(ForecastModel):
    name = win_models.MODEL_NAME

    def backtest(self, night: Night) -> pd.DataFrame:
        for note in night.hz.notes:
            night.notes.add(self.name, note)
        champion = registry.current_champion(night.con, self.name, night.as_of)
        recipes = candidates(night.settings)
        recipes |= win_models.feature_recipes(night.training)  # declared features: one more candidate
        champion_recipe = known_recipe(champion)
        champion_name = None
        if champion_recipe is not None:
            same = [name for name, rec in recipes.items() if rec.recipe_id == champion_recipe.recipe_id]
            champion_name = same[0] if same else "champion"
            recipes.setdefault(champion_name, champion_recipe)
        elif champion is not None:
            night.notes.add(
                self.name,
                f"the champion {champion.version} has a recipe this code cannot retrain or backtest: "
                "not kept",
            )
        self.champion, self.champion_name, self.recipes = champion, champion_name, recipes
        self.deal_bt = backtests.run_deal_backtest(
            night.con,
            night.ctx,
            night.hz.backtest_cutoffs,
            recipes,
            night.training,
            night.truth(),
            backtests.LedgerWriter(
                night.as_of, night.run_id, night.publish, night.reuse_backtests, night.visits_digests
            ),
        )
        if self.deal_bt.reused:
            log.info(
                "deal backtest: %d (cut-off, candidate) scores taken from the ledger, %d refitted",
                self.deal_bt.reused,
                len(self.deal_bt.models),
            )
        note_backtest(night.notes, night.hz, self.deal_bt, recipes)
        return empty_metrics()  # the rows name the champion: select returns them

    def select(self, night: Night) -> pd.DataFrame:
        recipes, champion = self.recipes, self.champion
        self.selection = registry.select_champion(
            self.deal_bt.recipe_brier,
            self.champion_name,
            {
                name: champion is not None and rec.recipe_id == champion.recipe.get("recipe_id")
                for name, rec in recipes.items()
            },
        )
        log.info("win probability: %s", self.selection.reason)
        self.chosen_name = self.selection.name
        self.chosen = recipes[self.chosen_name]
        return backtests.deal_metrics(self.deal_bt, self.chosen_name)

    def fit(self, night: Night) -> None:
        data = win_models.WinTrainingData(night.as_of, night.exits, night.training, night.ctx.maturity_days)
        win = win_models.fit(self.chosen, data, night.ctx.seed)
        self.decision = self.selection.reason
        if self.selection.fallback is not None:
            night.notes.add(self.name, self.selection.fallback)
        if getattr(win, "fallback", None):
            self.chosen_name, self.chosen = "stage_weighted", self.recipes["stage_weighted"]
            win = win_models.fit(self.chosen, data, night.ctx.seed)
            self.decision += "; the stage model could not be fitted: published the CRM's stage probability"
            night.notes.add(
                self.name,
                "the calibrated stage model could not be fitted tonight: "
                "published the CRM's stage probability",
            )
        self.model = win
        version = f"{self.name}.{self.chosen.recipe_id}.{night.as_of:%Y%m%d}"
        night.versions[self.name] = version
        night.win = WinPick(self.chosen_name, self.chosen, win, version, self.deal_bt)

    def score(self, night: Night) -> dict[str, pd.DataFrame]:
        if night.open_deals.empty:
            night.notes.add(self.name, f"no open deals as of {night.as_of}: nothing to score")
        return {}  # the deals' rows carry win x timing x amount: models.deal_amount writes them

    def version(self, night: Night) -> ModelVersion:
        version = night.versions[self.name]
        return ModelVersion(
            self.name,
            version,
            self.chosen.recipe_id,
            {**self.chosen.as_dict(), "recipe_id": self.chosen.recipe_id},
            self.chosen.features,
            self.model.train_rows,
            pooled(night.metrics, "deals_pooled", "model"),
            self.deal_bt.recipe_brier.get(self.chosen_name),
            self.decision,
            version,
            first_cutoff=night.cutoffs[0] if night.cutoffs else None,
            last_cutoff=night.as_of,
            model=self.model,
        )


def known_recipe(champion: registry.Champion | None) -> win_models.Recipe | None:
    if champion is None or "family" not in champion.recipe:
        return None
    rec = win_models.Recipe.from_dict(champion.recipe)
    return rec if rec.family in {r.family for r in win_models.RECIPES.values()} else None


def candidates(settings: Settings) -> dict[str, win_models.Recipe]:
    """The baselines (CRM probability, calibrated stage model) and the configured recipes."""
    names = dict.fromkeys([*stage_model.BASELINES, *settings.forecast_win_candidates])
    recipes = {name: win_models.recipe(name) for name in names}
    prior = settings.forecast_group_prior_deals
    for name, rec in recipes.items():
        if rec.params.get("groups") and prior != stage_model.DEFAULT_PRIOR_DEALS:
            recipes[name] = replace(rec, params={**rec.params, "prior_deals": prior})
    return recipes


def note_backtest(
    notes: Fallbacks,
    hz: horizons.Horizons,
    deal_bt: backtests.DealBacktest,
    recipes: dict[str, win_models.Recipe],
) -> None:
    """Skipped cut-offs, candidates that fell back or could not be scored: each a fallback."""
    name = win_models.MODEL_NAME
    scored_cutoffs = set(deal_bt.scored["cutoff"].dt.date) if not deal_bt.scored.empty else set()
    for cutoff in hz.backtest_cutoffs:
        if cutoff not in scored_cutoffs:
            notes.add(name, f"deal backtest at {cutoff} skipped: no deal open then has closed since")
    if hz.backtest_cutoffs and deal_bt.scored.empty:
        notes.add(name, "no deal backtest: none of its cut-offs had deals with a known outcome")
    for (cutoff, candidate), fallback in deal_bt.fallbacks.items():
        notes.add(name, f"candidate {candidate} at {cutoff} fell back: {fallback}")
    if not deal_bt.scored.empty:
        for candidate in recipes:
            score = deal_bt.recipe_brier.get(candidate)
            if score is None or not np.isfinite(score):
                notes.add(name, f"candidate {candidate} dropped: no backtest score")
