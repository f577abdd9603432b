"""How the morning report writes numbers: money with its currency, shares and counts."""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "CAD": "C$", "AUD": "A$"}


def missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def symbol(currency: str | None) -> str:
    if not currency:
        return ""
    return SYMBOLS.get(currency, f"{currency} ")


def money(value: object, currency: str | None = None) -> str:
    """12,345,678 -> '$12.3M', 45,200 -> '$45k', 950 -> '$950' (a dash when unknown)."""
    if missing(value):
        return "–"
    v = float(value)  # type: ignore[arg-type]
    sign = "−" if v < 0 else ""
    v = abs(v)
    if v >= 1e9:
        text = f"{v / 1e9:.2f}B"
    elif v >= 1e6:
        text = f"{v / 1e6:.2f}M"
    elif v >= 1e4:
        text = f"{v / 1e3:.0f}k"
    elif v >= 1e3:
        text = f"{v / 1e3:.1f}k"
    else:
        text = f"{v:,.0f}"
    return f"{sign}{symbol(currency)}{text}"


def pct(value: object, digits: int = 0) -> str:
    """0.2134 -> '21%'."""
    if missing(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        return "–"
    return f"{float(value) * 100:.{digits}f}%"  # type: ignore[arg-type]


def ratio(value: object) -> str:
    """Coverage: 2.4 -> '2.4x'."""
    if missing(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        return "–"
    return f"{float(value):.1f}x"  # type: ignore[arg-type]


def count(value: object) -> str:
    if missing(value):
        return "–"
    return f"{int(value):,}"  # type: ignore[call-overload]


def day(value: object) -> str:
    if missing(value):
        return "–"
    if isinstance(value, datetime | pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def stamp(value: object) -> str:
    if missing(value):
        return "–"
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]


def times(value: float) -> str:
    """How many times the usual: 2.03 -> 'twice', 3.4 -> '3.4 times', 0.5 -> 'half'."""
    if 1.9 <= value <= 2.1:
        return "twice"
    if 0.45 <= value <= 0.55:
        return "half"
    return f"{value:.1f} times"
