"""What native per-feature contributions would cost: LightGBM's TreeSHAP against its own prediction.

    uv pip install lightgbm==4.7.0   # not in the lock: pipecast does not use it
    OMP_NUM_THREADS=1 python bench/treeshap_cost.py

A boosted classifier shaped like the forecast's (150 trees of at most 15 leaves, six categorical
and eight numeric features, 200,000 training rows) predicts 50,000 rows, then computes their
TreeSHAP contributions (``pred_contrib``); it prints CPU seconds of both and their ratio. The
README's forecast section compares that ratio with the drivers' swap method.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main() -> int:
    try:
        import lightgbm as lgb
    except ImportError:
        print("lightgbm is not installed: uv pip install lightgbm==4.7.0", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    rows, features, categories = 200_000, 14, 6
    x = rng.normal(size=(rows, features))
    x[:, :categories] = rng.integers(0, 12, size=(rows, categories))
    y = (x[:, 6] + x[:, 0] % 3 + rng.normal(size=rows) > 1).astype(int)
    model = lgb.LGBMClassifier(
        learning_rate=0.08,
        n_estimators=150,
        num_leaves=15,
        min_child_samples=80,
        reg_lambda=1.0,
        verbose=-1,
        n_jobs=1,
    ).fit(x, y, categorical_feature=list(range(categories)))
    scored = x[:50_000]
    start = time.process_time()
    model.predict_proba(scored)
    predict = time.process_time() - start
    start = time.process_time()
    model.predict(scored, pred_contrib=True)
    contrib = time.process_time() - start
    print(
        f"{len(scored):,} rows, {model.booster_.num_trees()} trees of <= 15 leaves: predict {predict:.2f} "
        f"CPU s, TreeSHAP (pred_contrib) {contrib:.2f} CPU s = {contrib / predict:.0f} predictions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
