"""Shapes of CRM data the demo can take beyond its default company: what real CRMs send.

The default (``DemoShape()``) is the demo company of ``generator``: three years of history,
nightly exports, sales cycles of weeks to months, about 250 deals per rep, and a stage-history
file with close dates. Tests and the benchmark depend on it, so every field's default keeps it
byte for byte. Each preset changes one thing (``PRESETS``); fields combine freely.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class DemoShape:
    # Days of simulated history ending at as_of (None: the default three years). Short histories
    # hold the deals created in the window only; the oldest open ones are weeks old.
    history_days: int | None = None
    # Days between two exports (1: nightly; 7: weekly, the exports dated as_of, as_of - 7, ...).
    export_interval_days: int = 1
    # Multiplies every stage's median duration: 0.1 turns weeks-long stages into days-long ones.
    cycle_factor: float = 1.0
    # Multiplies the time to a decision that loses the deal: below 1, losses come faster than
    # advances, so a short history holds mostly the losses and time in stage carries information.
    lost_days_factor: float = 1.0
    # Deals per quota-carrying rep (None: the default 250): 5 gives many owners with few deals.
    opportunities_per_rep: int | None = None
    # False: the stage-history file has no close_date column (a CRM whose field history leaves
    # it out; the opportunities file still has each deal's close date).
    history_close_dates: bool = True

    def __post_init__(self) -> None:
        if self.history_days is not None and self.history_days < 7:
            raise ValueError("history_days must be at least 7")
        if self.export_interval_days < 1:
            raise ValueError("export_interval_days must be positive")
        if not 0.01 <= self.cycle_factor <= 10:
            raise ValueError("cycle_factor must be between 0.01 and 10")
        if not 0.01 <= self.lost_days_factor <= 10:
            raise ValueError("lost_days_factor must be between 0.01 and 10")
        if self.opportunities_per_rep is not None and self.opportunities_per_rep < 1:
            raise ValueError("opportunities_per_rep must be positive")

    def with_options(self, **options: object) -> DemoShape:
        return replace(self, **options)


PRESETS: dict[str, DemoShape] = {
    "default": DemoShape(),
    "short_history": DemoShape(history_days=56),  # eight weeks of exports' worth of deals
    "weekly_exports": DemoShape(export_interval_days=7),
    "fast_funnel": DemoShape(cycle_factor=0.1),  # stages of a day or two, cycles of days
    "sparse_owners": DemoShape(opportunities_per_rep=5),
    "history_without_close_dates": DemoShape(history_close_dates=False),
    # All of the above at once: a young CRM with a fast funnel exported weekly.
    "real_crm": DemoShape(
        history_days=56,
        export_interval_days=7,
        cycle_factor=0.1,
        opportunities_per_rep=5,
        history_close_dates=False,
    ),
}
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(DemoShape))


def preset(name: str) -> DemoShape:
    """A named shape; unknown names fail with the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown demo shape {name!r} (known: {', '.join(PRESETS)})")
    return PRESETS[name]
