"""The demo company: a simulated B2B CRM that writes nightly exports and a ground truth.

Demos, tests and benchmarks all use it; see ``generator`` for what is simulated.
"""

from pipecast.demo.generator import GenerationSummary, generate_demo_exports
from pipecast.demo.world import (
    CLOSED_LOST,
    CLOSED_STAGES,
    CLOSED_WON,
    LEAD_SOURCES,
    OPEN_STAGES,
    OPPORTUNITY_TYPES,
    PIPELINE,
    SEGMENTS,
    STAGE_FORECAST_CATEGORY,
    STAGE_NAMES,
    STAGE_PROBABILITY,
    STAGE_SORT_ORDER,
    TRUTH_COLUMNS,
)

__all__ = [
    "CLOSED_LOST",
    "CLOSED_STAGES",
    "CLOSED_WON",
    "LEAD_SOURCES",
    "OPEN_STAGES",
    "OPPORTUNITY_TYPES",
    "PIPELINE",
    "SEGMENTS",
    "STAGE_FORECAST_CATEGORY",
    "STAGE_NAMES",
    "STAGE_PROBABILITY",
    "STAGE_SORT_ORDER",
    "TRUTH_COLUMNS",
    "GenerationSummary",
    "generate_demo_exports",
]
