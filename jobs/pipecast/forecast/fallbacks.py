"""Every fallback of a night, visible: a skipped backtest, a fallback model, a dropped candidate,
a degenerate input. Each is a WARNING in the task log when it happens, its model's
``ml.model_runs.fallback_reason`` (one row per model and night; a skipped model gets a row of its
own) and a line of the morning report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("pipecast.forecast")

HORIZONS = "horizons"  # notes about the night's horizons, reported with the win model


@dataclass(frozen=True)
class Fallback:
    model_name: str
    reason: str


@dataclass
class Fallbacks:
    items: list[Fallback] = field(default_factory=list)

    def add(self, model_name: str, reason: str) -> None:
        if any(f.model_name == model_name and f.reason == reason for f in self.items):
            return
        log.warning("%s: %s", model_name, reason)
        self.items.append(Fallback(model_name, reason))

    def reason_for(self, model_name: str) -> str | None:
        """The model's fallbacks joined (" | "), None when there were none."""
        reasons = [f.reason for f in self.items if f.model_name == model_name]
        return " | ".join(reasons) if reasons else None

    def __len__(self) -> int:
        return len(self.items)
