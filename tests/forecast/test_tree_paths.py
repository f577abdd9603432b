"""Drivers read off the boosted models' decision paths (pipecast.forecast.tree_paths) and the stage
chain's drivers built on them (win_models.StageChainModel.predict_with_effects,
explain.predict_with_drivers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipecast.forecast import explain, parallel, tree_paths, win_models
from pipecast.forecast.estimators import ProbabilityModel, fit_classifier

SEGMENTS = ["SMB", "Mid", "Enterprise"]
RECIPE = win_models.Recipe(
    "stage_chain", ["segment", "industry"], ["stage_rank", "log_amount", "log_employees"], {}
)


def _exits(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Stage exits: advancing gets harder by stage, SMB advances more, big deals less; industry and
    log_employees are noise; a tenth of the amounts are missing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "stage_rank": rng.integers(1, 5, n).astype(float),
            "segment": rng.choice(SEGMENTS, n),
            "industry": rng.choice(["Retail", "Tech", "Health"], n),
            "log_amount": np.where(rng.random(n) < 0.1, np.nan, rng.normal(10, 1, n)),
            "log_employees": rng.normal(5, 1, n),
            "opportunity_id": rng.integers(0, n // 3, n).astype(str),
        }
    )
    z = (
        1.5
        - 0.5 * frame["stage_rank"]
        + frame["segment"].map({"SMB": 1.0, "Mid": 0.0, "Enterprise": -1.0})
        - 0.6 * (frame["log_amount"].fillna(10.0) - 10.0)
    )
    return frame, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)


@pytest.fixture(scope="module")
def advance() -> ProbabilityModel:
    frame, y = _exits()
    model = fit_classifier(
        frame,
        y,
        ["segment", "industry"],
        ["stage_rank", "log_amount", "log_employees"],
        [0, 1],
        groups=frame["opportunity_id"],
    )
    assert model.estimator is not None
    return model


def _open_deals(n: int = 400, seed: int = 1) -> pd.DataFrame:
    frame, _ = _exits(n, seed)
    return frame.drop(columns="opportunity_id").assign(
        open_stages=np.where(np.arange(n) % 4 == 0, 3.0, 4.0),
        stage_rank=lambda f: np.minimum(f["stage_rank"], f["open_stages"]),
        crm_probability=0.3,
    )


def test_paths_give_the_calibrated_probability_and_add_up_to_each_folds_raw_score(advance):
    deals = _open_deals()
    deals.loc[0, "segment"] = "a segment never seen in training"
    deals.loc[1, ["log_amount", "industry"]] = [np.nan, None]
    paths = tree_paths.CalibratedPaths.of(advance)
    p, credit = paths.explain(deals)
    X = advance.encoder.transform(deals[["segment", "industry", "stage_rank", "log_amount", "log_employees"]])
    assert np.abs(p - advance.estimator.predict_proba(X)[:, 1]).max() < 1e-12  # scikit-learn's own
    assert credit.shape == (len(deals), len(paths.columns))
    for fold in advance.estimator.calibrated_classifiers_:
        boosted = tree_paths.BoostedPaths(fold.estimator)
        raw, contributions = boosted.explain(X)
        assert np.abs(raw - fold.estimator.decision_function(X)).max() < 1e-10
        assert np.abs(boosted.expected + contributions.sum(axis=1) - raw).max() < 1e-10


def test_paths_in_bins_take_the_leaves_of_raw_values_for_unseen_categories_and_missing_values():
    """The paths traverse the trees on the model's own bins. A category the model never saw (a
    calibration fold may lack a level the encoder knows), a negative code and a missing value go
    where ``predict`` sends them; numbers beyond every threshold too."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(4)
    n = 3000
    X = np.column_stack([rng.integers(0, 3, n), rng.normal(0, 1, n)]).astype(float)
    X[rng.random(n) < 0.2, 0] = np.nan  # missing categories in training: some splits send them left
    z = np.nan_to_num(X[:, 0], nan=3.0) - 1.5 + X[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    model = HistGradientBoostingClassifier(categorical_features=[0], max_iter=30, random_state=0).fit(X, y)
    new = np.array([[3, 0.5], [7, -0.2], [-1, 0.1], [np.nan, np.nan], [1, 1e9], [2, -1e9], [0, np.inf]])
    rows = np.vstack([X[:200], new])
    boosted = tree_paths.BoostedPaths(model)
    raw, contributions = boosted.explain(rows)
    left = [
        node["missing_go_to_left"]
        for it in model._predictors
        for node in it[0].nodes
        if node["is_categorical"]
    ]
    assert any(left) and not all(left)  # the unseen categories' way matters
    np.testing.assert_allclose(raw, model.decision_function(rows), rtol=0, atol=1e-10)
    np.testing.assert_allclose(boosted.expected + contributions.sum(axis=1), raw, rtol=0, atol=1e-10)


def test_paths_credit_what_the_model_uses(advance):
    deals = _open_deals()
    _, credit = tree_paths.CalibratedPaths.of(advance).explain(deals)
    size = pd.Series(np.abs(credit).mean(axis=0), index=tree_paths.CalibratedPaths.of(advance).columns)
    assert size[["segment", "stage_rank", "log_amount"]].min() > 3 * size[["industry", "log_employees"]].max()
    smb = deals["segment"].eq("SMB").to_numpy()
    segment = credit[:, list(size.index).index("segment")]
    assert (segment[smb] > 0).mean() > 0.95 and (
        segment[deals["segment"].eq("Enterprise").to_numpy()] < 0
    ).mean() > 0.95


def test_only_calibrated_two_class_boosting_has_paths(advance):
    assert tree_paths.CalibratedPaths.of(ProbabilityModel([0, 1], [], ["stage_rank"])) is None  # frequencies
    frame, y = _exits(600)
    three = fit_classifier(
        frame, y + (frame["stage_rank"].to_numpy() > 3), ["segment"], ["stage_rank"], [0, 1, 2]
    )
    assert tree_paths.CalibratedPaths.of(three) is None


def test_the_chains_stage_driver_is_its_exact_swap_over_the_open_deals_stages(advance):
    deals = _open_deals()
    chain = win_models.StageChainModel(RECIPE, advance, 0)
    groups = {
        "stage": ["stage_rank"],
        "segment": ["segment"],
        "deal size": ["log_amount"],
        "industry": ["industry"],
    }
    p, effects = chain.predict_with_effects(deals, groups)
    assert np.abs(p - chain.predict(deals)).max() < 1e-12
    logit = explain._logit
    for i in [0, 1, 2, 5, 8]:
        deal = deals.iloc[[i]]
        same = deals[deals["open_stages"] == deal["open_stages"].iloc[0]]
        stages = same["stage_rank"].to_numpy()
        swapped = chain.predict(pd.concat([deal] * len(stages)).assign(stage_rank=stages))
        expected = logit(chain.predict(deal))[0] - logit(swapped).mean()
        assert effects[i, 0] == pytest.approx(expected, abs=1e-9)


def test_chain_drivers_agree_with_the_swaps(advance):
    """The other drivers come from the paths; on this model they rank like swaps against 40 deals.
    One pipeline length: swaps keep a deal's own length, so a background deal's later stage can
    leave a shorter pipeline's deal nothing to pass (P(win) = 1), which the stage driver avoids."""
    deals = _open_deals().assign(open_stages=4.0)
    chain = win_models.StageChainModel(RECIPE, advance, 0)
    groups = explain.driver_groups(["stage_rank", "segment", "industry", "log_amount", "log_employees"])
    paths = pd.DataFrame(chain.predict_with_effects(deals, groups)[1], columns=list(groups))
    swaps = explain.driver_effects(chain.predict, deals, list(deals.columns), background=40, seed=2)
    for driver in ["stage", "segment", "deal size"]:
        assert np.corrcoef(paths[driver], swaps[driver])[0, 1] > 0.9, driver
    assert paths[["industry", "company size"]].abs().mean().max() < 0.2 * paths["segment"].abs().mean()
    same_top = (paths.abs().idxmax(axis=1) == swaps[list(groups)].abs().idxmax(axis=1)).mean()
    assert same_top > 0.7, same_top


def test_win_drivers_use_the_paths_and_swaps_where_they_cannot(advance):
    deals = _open_deals(60)
    deals.loc[3, "stage_rank"] = np.nan  # a stage outside the funnel: the chain answers crm_probability
    chain = win_models.StageChainModel(RECIPE, advance, 0)
    _, effects = explain.predict_with_drivers(chain, deals, RECIPE.features, background=5, seed=0)
    assert not effects.isna().any().any()
    swaps = explain.driver_effects(chain.predict, deals, chain.recipe.features, 5, 0)
    assert np.allclose(effects.loc[3], swaps.loc[3, effects.columns])  # that deal: swaps
    frequencies = win_models.StageChainModel(
        RECIPE, ProbabilityModel([0, 1], [], [], frequencies=np.array([0.5, 0.5])), 0
    )
    assert frequencies.predict_with_effects(deals, explain.driver_groups(chain.recipe.features)) is None
    _, fallback = explain.predict_with_drivers(frequencies, deals, RECIPE.features, background=5, seed=0)
    pd.testing.assert_frame_equal(
        fallback, explain.driver_effects(frequencies.predict, deals, chain.recipe.features, 5, 0)
    )


def test_the_one_pass_gives_the_models_own_probability_for_every_deal(advance):
    """P(win) comes with the drivers (the nightly scoring reuses it): it must be ``predict``'s for
    every deal, those the paths cannot answer included (no stage, no open stages, a stage beyond
    the pipeline's last open one)."""
    deals = _open_deals(80)
    deals.loc[3, "stage_rank"] = np.nan
    deals.loc[4, "open_stages"] = np.nan
    deals.loc[5, ["stage_rank", "open_stages"]] = [4.0, 3.0]
    deals.loc[6, "crm_probability"] = np.nan
    chain = win_models.StageChainModel(RECIPE, advance, 0)
    for model in (chain, win_models.SnapshotModel(RECIPE, advance, 0)):
        p, effects = explain.predict_with_drivers(model, deals, RECIPE.features, background=5, seed=0)
        assert np.abs(p - model.predict(deals)).max() < 1e-12, type(model).__name__
        assert effects.notna().all().all()
    # without stage drivers (no group holds stage_rank), the same probabilities
    p, _ = chain.predict_with_effects(deals, {"segment": ["segment"]})
    assert np.abs(p - chain.predict(deals)).max() < 1e-12


def test_rows_explained_in_parallel_blocks_equal_one_thread(advance, monkeypatch):
    deals = _open_deals(500)
    paths = tree_paths.CalibratedPaths.of(advance)
    X = paths.encode(deals)
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 1)
    p1, credit1 = paths.explain_encoded(X)
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 3)
    monkeypatch.setattr(parallel, "MIN_ROWS", 100)
    p3, credit3 = paths.explain_encoded(X)
    assert p3.shape == p1.shape and credit3.shape == credit1.shape
    assert np.abs(p3 - p1).max() < 1e-12 and np.abs(credit3 - credit1).max() < 1e-12


def test_a_two_class_models_probabilities_come_from_its_tree_paths_as_scikit_learn_gives_them(advance):
    """ProbabilityModel.predict_proba walks the trees in one compiled pass (tree_paths), not
    scikit-learn's per-tree calls: the same probabilities, unseen and missing values included,
    and a pickled model (joblib, MLflow) carries no copy of the walked trees."""
    import pickle

    deals = _open_deals(300)
    deals.loc[0, "segment"] = "a segment never seen in training"
    deals.loc[1, ["log_amount", "industry"]] = [np.nan, None]
    assert isinstance(advance.tree_paths(), tree_paths.CalibratedPaths)
    X = advance.encoder.transform(deals[["segment", "industry", "stage_rank", "log_amount", "log_employees"]])
    ours = advance.predict_proba(deals)
    np.testing.assert_allclose(ours, advance.estimator.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    copy = pickle.loads(pickle.dumps(advance))
    assert "_walk" not in copy.__dict__
    np.testing.assert_array_equal(copy.predict_proba(deals), ours)


def _three_class(ensemble: bool) -> ProbabilityModel:
    frame, y = _exits(3000)
    weights = np.where(frame["segment"].eq("SMB"), 0.5, 1.0)  # the timing model is weighted
    return fit_classifier(
        frame,
        y + (frame["stage_rank"].to_numpy() > 3),
        ["segment"],
        ["stage_rank", "log_amount"],
        [0, 1, 2],
        sample_weight=weights,
        groups=frame["opportunity_id"],
        ensemble=ensemble,
    )


@pytest.mark.parametrize("ensemble", [False, True])
def test_a_three_class_models_probabilities_come_from_the_walk_as_scikit_learn_gives_them(ensemble):
    """Temperature-calibrated boosting of three classes (the close-timing model: one model on all
    rows, ensemble=False; or the folds' average) through tree_paths.CalibratedScores."""
    model = _three_class(ensemble)
    assert isinstance(model.tree_walk(), tree_paths.CalibratedScores) and model.tree_paths() is None
    deals = _open_deals(400)
    deals.loc[0, "segment"] = "a segment never seen in training"
    deals.loc[1, "log_amount"] = np.nan
    X = model.encoder.transform(deals[["segment", "stage_rank", "log_amount"]])
    ours = model.predict_proba(deals)
    np.testing.assert_allclose(ours, model.estimator.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def uncalibrated() -> ProbabilityModel:
    """A model without a compiled walk (boosting without calibration folds): scikit-learn predicts it."""
    frame, _ = _exits(2000)
    y = np.zeros(len(frame), dtype=int)
    y[:10] = 1  # too few of a class for calibration folds
    model = fit_classifier(frame, y, ["segment"], ["stage_rank", "log_amount"], [0, 1])
    assert model.kind == "hgb_uncalibrated" and model.tree_walk() is None
    return model


@pytest.mark.parametrize("model_name", ["advance", "uncalibrated"])
def test_a_models_probabilities_in_parallel_blocks_equal_one_thread(model_name, request, monkeypatch):
    model = request.getfixturevalue(model_name)
    deals = _open_deals(500)
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 1)
    one = model.predict_proba(deals)
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 3)
    monkeypatch.setattr(parallel, "MIN_ROWS", 100)
    assert len(parallel.row_blocks(np.zeros((500, 2)), 3)) == 3
    np.testing.assert_array_equal(model.predict_proba(deals), one)


def test_a_models_probabilities_a_block_of_rows_at_a_time_equal_all_at_once(
    advance, uncalibrated, monkeypatch
):
    """Memory: many rows (1.4M account x product pairs) are encoded and predicted PREDICT_ROWS at a
    time, with the same probabilities in the same order."""
    from pipecast.forecast import estimators

    deals = _open_deals(500)
    whole = advance.predict_proba(deals), uncalibrated.predict_proba(deals)
    calls: list[int] = []
    paths = advance.tree_paths()
    walk = paths.explain_binned
    monkeypatch.setattr(
        paths, "explain_binned", lambda b, rows, **kw: calls.append(len(rows)) or walk(b, rows, **kw)
    )
    predict = uncalibrated.estimator.predict_proba
    monkeypatch.setattr(uncalibrated.estimator, "predict_proba", lambda X: calls.append(len(X)) or predict(X))
    monkeypatch.setattr(estimators, "PREDICT_ROWS", 120)
    np.testing.assert_array_equal(advance.predict_proba(deals), whole[0])
    np.testing.assert_array_equal(uncalibrated.predict_proba(deals), whole[1])
    assert calls == [120, 120, 120, 120, 20] * 2


def _stages_of(paths, deals: pd.DataFrame, groups: dict[str, list[str]]) -> tree_paths.Stages:
    """Each deal at stages 1..its last, credited from its own stage on (as the chain's drivers)."""
    rank = deals["stage_rank"].to_numpy()
    return tree_paths.Stages(
        paths.columns.index("stage_rank"),
        np.ones(len(deals)),
        deals["open_stages"].to_numpy(),
        rank,
        paths.group_of(groups, left_out=0),
        len(groups),
    )


GROUPS = {
    "stage": ["stage_rank"],
    "segment": ["segment"],
    "deal size": ["log_amount"],
    "industry": ["industry"],
}


def test_one_walk_for_all_stages_equals_a_walk_per_stage(advance):
    """tree_traversal.traverse_stages forks a path only where a tree splits on the stage: each
    deal's probability at each stage is the one a walk with the stage set gives (to the bit), its
    credits the same moves summed into the groups; the stage's own group is left out."""
    deals = _open_deals(300)
    deals.loc[0, "segment"] = "a segment never seen in training"
    deals.loc[1, ["log_amount", "industry"]] = [np.nan, None]
    paths = tree_paths.CalibratedPaths.of(advance)
    binned = paths.binned(paths.encode(deals))
    stages = _stages_of(paths, deals, GROUPS)
    rows = np.arange(len(deals))
    p, credit = paths.explain_stages(binned, rows, stages)
    assert p.shape == (len(deals), 5) and credit.shape == (len(deals), 5, len(GROUPS))
    member = paths.membership(GROUPS)
    member[:, 0] = 0.0
    for s in range(1, 5):
        at = np.flatnonzero(deals["open_stages"].to_numpy() >= s)
        expected_p, columns = paths.explain_binned(binned, at, (stages.column, float(s)))
        assert np.array_equal(p[at, s], expected_p)
        expected = np.where((deals["stage_rank"].to_numpy()[at] <= s)[:, None], columns @ member, 0.0)
        np.testing.assert_allclose(credit[at, s], expected, rtol=0, atol=1e-12)
        assert np.isnan(p[np.setdiff1d(rows, at), s]).all()
    assert np.isnan(p[:, 0]).all() and (credit[:, :, 0] == 0).all()


def test_a_pipeline_past_the_walks_stage_bits_is_scored_a_stage_at_a_time(advance, monkeypatch):
    """Stages are bits of an int64 in the walk: a longer pipeline is walked a stage at a time,
    with the same answers."""
    deals = _open_deals(200)
    paths = tree_paths.CalibratedPaths.of(advance)
    binned = paths.binned(paths.encode(deals))
    stages = _stages_of(paths, deals, GROUPS)
    p, credit = paths.explain_stages(binned, np.arange(len(deals)), stages)
    monkeypatch.setattr(tree_paths, "MAX_STAGES", 2)
    p_by_stage, credit_by_stage = paths.explain_stages(binned, np.arange(len(deals)), stages)
    np.testing.assert_array_equal(p_by_stage, p)
    np.testing.assert_allclose(credit_by_stage, credit, rtol=0, atol=1e-12)


def test_stages_walked_in_parallel_blocks_equal_one_thread(advance, monkeypatch):
    deals = _open_deals(500)
    paths = tree_paths.CalibratedPaths.of(advance)
    binned = paths.binned(paths.encode(deals))
    stages = _stages_of(paths, deals, GROUPS)
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 1)
    p1, credit1 = paths.explain_stages(binned, np.arange(len(deals)), stages)
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 3)
    monkeypatch.setattr(parallel, "MIN_ROWS", 100)
    p3, credit3 = paths.explain_stages(binned, np.arange(len(deals)), stages)
    np.testing.assert_array_equal(p3, p1)
    np.testing.assert_array_equal(credit3, credit1)


def test_the_chains_probability_is_scikit_learns_advance_probabilities_multiplied(advance, monkeypatch):
    """``predict`` through the one walk against the advance model's own predict_proba at each of a
    deal's remaining stages; and a chunk of deals at a time for the drivers gives the same."""
    deals = _open_deals(300)
    chain = win_models.StageChainModel(RECIPE, advance, 0)
    expected = np.ones(len(deals))
    for stage in range(1, 5):
        ahead = ((deals["stage_rank"] <= stage) & (stage <= deals["open_stages"])).to_numpy()
        X = advance.encoder.transform(deals.loc[ahead, RECIPE.features].assign(stage_rank=float(stage)))
        expected[ahead] *= advance.estimator.predict_proba(X)[:, 1]
    np.testing.assert_allclose(chain.predict(deals), expected, rtol=0, atol=1e-12)
    p, effects = chain.predict_with_effects(deals, GROUPS)
    monkeypatch.setattr(win_models, "EXPLAIN_ROWS", 70)
    p_chunks, effects_chunks = chain.predict_with_effects(deals, GROUPS)
    np.testing.assert_array_equal(p_chunks, p)
    np.testing.assert_allclose(effects_chunks, effects, rtol=0, atol=1e-12)
