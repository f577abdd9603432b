"""The morning report's charts as inline SVG (matplotlib, text kept as text, no external reference)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipecast.report_html.formatting import missing, money

BLUE, LIGHT_BLUE, ORANGE, GREEN, RED, GREY = "#08519c", "#9ecae1", "#e6550d", "#31a354", "#d62728", "#636363"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text as <text>: the page's fonts, selectable, small files
            "svg.hashsalt": "pipecast",  # stable ids: the same night draws the same file
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    _pyplot().close(fig)
    text = buffer.getvalue()
    # inline in HTML: drop the XML declaration and the DOCTYPE (which names a DTD by URL)
    text = text[text.index("<svg") :]
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def _money_axis(ax, cur: str | None, axis: str = "y") -> None:
    import matplotlib.ticker as ticker

    formatter = ticker.FuncFormatter(lambda v, _: money(v, cur))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def forecast_chart(total: pd.DataFrame, cur: str | None) -> str | None:
    """Per period: the P10-P90 range, P50, the stage-weighted forecast, closed won so far, the target."""
    if len(total) == 0:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 1.2 + 1.1 * len(total)))
    rows = total.reset_index(drop=True)
    y = list(range(len(rows)))[::-1]
    for yi, (_, r) in zip(y, rows.iterrows(), strict=True):
        ax.barh(
            yi,
            r["p90"] - r["p10"],
            left=r["p10"],
            height=0.45,
            color=LIGHT_BLUE,
            label="model P10–P90" if yi == y[0] else None,
        )
        ax.barh(
            yi, r["closed_won_to_date"], height=0.18, color=GREEN, label="won so far" if yi == y[0] else None
        )
        ax.plot([r["p50"]], [yi], "o", color=BLUE, markersize=9, label="model P50" if yi == y[0] else None)
        if not missing(r.get("stage_weighted")):
            ax.plot(
                [r["stage_weighted"]],
                [yi],
                "D",
                color=ORANGE,
                markersize=7,
                label="stage-weighted (CRM)" if yi == y[0] else None,
            )
        if not missing(r.get("target")) and r["target"] > 0:
            ax.plot(
                [r["target"]] * 2,
                [yi - 0.35, yi + 0.35],
                color=RED,
                linewidth=2.5,
                label="target" if yi == y[0] else None,
            )
    ax.set_yticks(y, [f"{r['period']}" for _, r in rows.iterrows()])
    ax.set_xlim(left=0)
    _money_axis(ax, cur, "x")
    ax.set_xlabel(f"revenue ({cur or 'currency unknown'})")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, frameon=False, fontsize=9)
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    return _svg(fig)


def waterfall_chart(steps: Sequence[dict[str, Any]], cur: str | None) -> str:
    """Open at start, then each flow up or down, to open at end."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    signs = {"pushed out": -1, "won": -1, "lost": -1}
    level = 0.0
    labels = []
    for i, step in enumerate(steps):
        label, amount = step["label"], float(step["amount"] or 0)
        labels.append(label)
        if label in ("open at start", "open at end"):
            ax.bar(i, amount, color=GREY, width=0.6)
            ax.text(i, amount, money(amount, cur), ha="center", va="bottom", fontsize=8)
            level = amount
            continue
        delta = signs.get(label, 1) * amount
        colour = GREEN if label == "won" else (RED if delta < 0 else BLUE)
        ax.bar(i, delta, bottom=level, color=colour, width=0.6)
        ax.text(
            i,
            max(level, level + delta),
            ("+" if delta >= 0 else "") + money(delta, cur),
            ha="center",
            va="bottom",
            fontsize=8,
        )
        level += delta
    ax.set_xticks(range(len(labels)), [label.replace(" ", "\n") for label in labels], fontsize=8)
    _money_axis(ax, cur)
    ax.set_ylabel(f"pipeline closing in the period ({cur or '?'})")
    ax.grid(axis="y", color="#dddddd")
    ax.set_axisbelow(True)
    return _svg(fig)


def trends_chart(frame: pd.DataFrame, cur: str | None) -> str:
    """Win rate (count and amount) and sales velocity per period."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    x = list(range(len(frame)))
    labels = frame["period_label"].astype(str).tolist()
    left.plot(x, frame["win_rate"] * 100, "o-", color=BLUE, label="by count")
    left.plot(x, frame["win_rate_by_amount"] * 100, "s--", color=ORANGE, label="by amount")
    left.set_title("win rate of closed deals (%)", fontsize=10)
    left.set_ylim(bottom=0)
    left.legend(fontsize=8, frameon=False)
    right.bar(x, frame["velocity_per_day"].fillna(0), color=GREEN)
    right.set_title(f"sales velocity ({cur or '?'} per day)", fontsize=10)
    _money_axis(right, cur)
    for ax in (left, right):
        ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
        ax.grid(axis="y", color="#dddddd")
        ax.set_axisbelow(True)
    fig.tight_layout()
    return _svg(fig)


def accuracy_chart(wide: pd.DataFrame, cur: str | None) -> str:
    """Each past period: actual revenue, the model's range and P50 at its start, stage-weighted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    x = list(range(len(wide)))
    ax.bar(x, wide["actual"], color="#cccccc", width=0.6, label="actual")
    if {"p10", "p90"} <= set(wide.columns):
        ax.vlines(x, wide["p10"], wide["p90"], color=LIGHT_BLUE, linewidth=8, label="model P10–P90")
    markers = [("model", "o", BLUE), ("stage_weighted", "D", ORANGE), ("commit", "v", GREY)]
    names = {"model": "model (at period start)", "stage_weighted": "stage-weighted (CRM)", "commit": "commit"}
    for column, marker, colour in markers:
        if column in wide.columns:
            ax.plot(
                x, wide[column], marker, color=colour, markersize=7, label=names[column], linestyle="none"
            )
    ax.set_xticks(x, wide["period"].astype(str).tolist(), fontsize=8)
    _money_axis(ax, cur)
    ax.set_ylabel(f"revenue ({cur or '?'})")
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=5)
    ax.grid(axis="y", color="#dddddd")
    ax.set_axisbelow(True)
    return _svg(fig)
