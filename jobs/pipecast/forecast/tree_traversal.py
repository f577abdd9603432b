"""The trees' traversal behind tree_paths, compiled by Numba: one loop over a block of rows that
walks every tree of a boosted model and, on the way, adds each split's move to the split's
feature. scikit-learn's own traversal (``TreePredictor.predict_binned``) returns a leaf per row
per tree, one pass over the rows each, and the credits were then gathered leaf by leaf: 200,000
deals through the stage chain took 11.8 s so on one thread, 9.5 s here, and the blocks of rows run
in parallel through every step (1M deals on two threads: 38.4 -> 26.3 s; README, "drivers").

Imported on first use (tree_paths.BoostedPaths), so that importing the forecast does not load
Numba; the compiled function is cached beside this file (``cache=True``) or, where that cannot be
written, in the user's cache directory.
"""

from __future__ import annotations

import numba
import numpy as np


def _compiled(function):
    """``function`` compiled, its machine code cached when a cache directory can be written
    (beside this file, else the user's cache or NUMBA_CACHE_DIR), compiled in each process else."""
    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(function)


@_compiled
def traverse(
    binned: np.ndarray,  # (n, features) uint8: the rows in the model's bins
    rows: np.ndarray,  # (k,) int64: which rows of ``binned`` to walk
    fixed_column: int,  # a column every row takes ``fixed_bin`` in (-1: none)
    fixed_bin: int,
    missing_bin: int,  # the bin of missing values
    roots: np.ndarray,  # (trees,) each tree's root node
    feature: np.ndarray,  # per node: the column it splits on
    threshold: np.ndarray,  # per node: left when the bin is at most this (numeric splits)
    missing_left: np.ndarray,  # per node: missing values go left
    is_leaf: np.ndarray,
    is_categorical: np.ndarray,
    bitset: np.ndarray,  # per categorical node: its row of ``bitsets`` (the bins that go left)
    left: np.ndarray,
    right: np.ndarray,
    value: np.ndarray,  # per leaf: its raw score
    move: np.ndarray,  # per node: its expected value less its parent's (0 at the roots)
    bitsets: np.ndarray,  # (categorical splits, 8) uint32
    baseline: float,
    explain: bool,
    raw: np.ndarray,  # out (k,): baseline + the leaves' values, summed in tree order
    contributions: np.ndarray,  # out (k, features), added to when ``explain``
) -> None:
    for k in range(rows.shape[0]):
        r = rows[k]
        total = baseline
        for t in range(roots.shape[0]):
            i = roots[t]
            while not is_leaf[i]:
                f = feature[i]
                b = fixed_bin if f == fixed_column else binned[r, f]
                if b == missing_bin:
                    go_left = missing_left[i]
                elif is_categorical[i]:
                    go_left = ((bitsets[bitset[i], b >> 5] >> (b & 31)) & 1) == 1
                else:
                    go_left = b <= threshold[i]
                child = left[i] if go_left else right[i]
                if explain:
                    contributions[k, f] += move[child]
                i = child
            total += value[i]
        raw[k] = total


@_compiled
def traverse_stages(
    binned: np.ndarray,  # (n, features) uint8: the rows in the model's bins
    rows: np.ndarray,  # (k,) int64: which rows of ``binned`` to walk
    first: np.ndarray,  # (k,) int64: each row's first stage to score
    last: np.ndarray,  # (k,) int64: its last (first..last, at most 62)
    credit_from: np.ndarray,  # (k,) int64: its stages from this one on are credited
    stage_column: int,  # the column that takes each stage's bin
    stage_bins: np.ndarray,  # (stages + 1,) int64: stage s's bin in that column
    group_of: np.ndarray,  # (features,) int64: the group a column's moves are credited to (-1: none)
    missing_bin: int,
    roots: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    missing_left: np.ndarray,
    is_leaf: np.ndarray,
    is_categorical: np.ndarray,
    bitset: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    value: np.ndarray,
    move: np.ndarray,
    bitsets: np.ndarray,
    baseline: float,
    explain: bool,
    stack_node: np.ndarray,  # (nodes,) int64 scratch: the nodes still to walk, with...
    stack_stages: np.ndarray,  # (nodes,) int64 scratch: ...the stages (a bit each) that reach them
    raw: np.ndarray,  # out (k, stages + 1): baseline + the leaves' values at each of the row's stages
    credit: np.ndarray,  # out (k, stages + 1, groups), added to when ``explain``
) -> None:
    """``traverse`` of each row at every stage first..last at once: a tree is walked once per row,
    and its path forks only where a node splits on the stage column, the stages going each way
    going on together. At stage s a row reaches the leaves, and credits the moves, it would reach
    walked with the stage column set to s; raw scores are summed in the same tree order."""
    for k in range(rows.shape[0]):
        r = rows[k]
        own = np.int64(0)
        for s in range(first[k], last[k] + 1):
            own |= np.int64(1) << s
            raw[k, s] = baseline
        for t in range(roots.shape[0]):
            stack_node[0] = roots[t]
            stack_stages[0] = own
            top = 1
            while top > 0:
                top -= 1
                i = stack_node[top]
                stages = stack_stages[top]
                while not is_leaf[i]:
                    f = feature[i]
                    if f == stage_column:  # the stages may part: one way walked now, the other later
                        to_left = np.int64(0)
                        for s in range(first[k], last[k] + 1):
                            if (stages >> s) & 1:
                                b = stage_bins[s]
                                if b == missing_bin:
                                    go_left = missing_left[i]
                                elif is_categorical[i]:
                                    go_left = ((bitsets[bitset[i], b >> 5] >> (b & 31)) & 1) == 1
                                else:
                                    go_left = b <= threshold[i]
                                if go_left:
                                    to_left |= np.int64(1) << s
                        to_right = stages & ~to_left
                        if to_left != 0 and to_right != 0:  # the right way waits, its move credited now
                            stack_node[top] = right[i]
                            stack_stages[top] = to_right
                            top += 1
                            g = group_of[f]
                            if explain and g >= 0:
                                for s in range(credit_from[k], last[k] + 1):
                                    if (to_right >> s) & 1:
                                        credit[k, s, g] += move[right[i]]
                            child, stages = left[i], to_left
                        elif to_left != 0:
                            child = left[i]
                        else:
                            child = right[i]
                    else:
                        b = binned[r, f]
                        if b == missing_bin:
                            go_left = missing_left[i]
                        elif is_categorical[i]:
                            go_left = ((bitsets[bitset[i], b >> 5] >> (b & 31)) & 1) == 1
                        else:
                            go_left = b <= threshold[i]
                        child = left[i] if go_left else right[i]
                    if explain:
                        g = group_of[f]
                        if g >= 0:
                            for s in range(credit_from[k], last[k] + 1):
                                if (stages >> s) & 1:
                                    credit[k, s, g] += move[child]
                    i = child
                for s in range(first[k], last[k] + 1):
                    if (stages >> s) & 1:
                        raw[k, s] += value[i]
