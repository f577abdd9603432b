"""The demo company's fixed world: stages, segments, sources, products and the hidden effects.

Everything here is a constant so other code (tests, dbt seeds, forecasting checks) can import the
names the generator writes. The effect tables are the simulation's "truth": they set how likely a
deal is to advance from each open stage (on the logit scale) and how long it stays there.
"""

from __future__ import annotations

from typing import Final

import numpy as np

PIPELINE: Final = "default"
CURRENCY: Final = "USD"
SOURCE_NAME: Final = "pipecast-demo"

# ---------------------------------------------------------------------------------------- stages
OPEN_STAGES: Final[tuple[str, ...]] = (
    "Prospecting",
    "Qualification",
    "Proposal",
    "Negotiation",
    "Commit",
)
CLOSED_WON: Final = "Closed Won"
CLOSED_LOST: Final = "Closed Lost"
CLOSED_STAGES: Final[tuple[str, ...]] = (CLOSED_WON, CLOSED_LOST)
STAGE_NAMES: Final[tuple[str, ...]] = OPEN_STAGES + CLOSED_STAGES
STAGE_PROBABILITY: Final[dict[str, float]] = {
    "Prospecting": 10.0,
    "Qualification": 20.0,
    "Proposal": 50.0,
    "Negotiation": 70.0,
    "Commit": 90.0,
    CLOSED_WON: 100.0,
    CLOSED_LOST: 0.0,
}
STAGE_FORECAST_CATEGORY: Final[dict[str, str]] = {
    "Prospecting": "Pipeline",
    "Qualification": "Pipeline",
    "Proposal": "Best Case",
    "Negotiation": "Best Case",
    "Commit": "Commit",
    CLOSED_WON: "Closed",
    CLOSED_LOST: "Omitted",
}
STAGE_SORT_ORDER: Final[dict[str, int]] = {s: i + 1 for i, s in enumerate(STAGE_NAMES)}
# Integer stage codes used inside the simulation: 0..4 open stages, then won, then lost.
N_OPEN: Final = len(OPEN_STAGES)
WON_CODE: Final = N_OPEN
LOST_CODE: Final = N_OPEN + 1

# Columns of the ground-truth file (not part of the landing zone).
TRUTH_P_WIN_COLUMNS: Final[tuple[str, ...]] = tuple(f"p_win_{s.lower()}" for s in OPEN_STAGES)
TRUTH_COLUMNS: Final[tuple[str, ...]] = (
    "opportunity_id",
    *TRUTH_P_WIN_COLUMNS,
    "outcome_won",
    "outcome_closed_at",
    "outcome_amount",
)

# ---------------------------------------------------------------------------------- companies
SEGMENTS: Final[tuple[str, ...]] = ("SMB", "Mid-Market", "Enterprise")
SEGMENT_SHARE: Final = np.array([0.60, 0.28, 0.12])  # of accounts
SEGMENT_DEAL_WEIGHT: Final = np.array([1.0, 1.4, 2.0])  # how often an account opens deals
SEGMENT_EMPLOYEES_LOG_MEDIAN: Final = np.log([45.0, 600.0, 9000.0])
SEGMENT_EMPLOYEES_RANGE: Final = ((5, 199), (200, 1999), (2000, 250_000))
INDUSTRIES: Final[tuple[str, ...]] = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Logistics",
    "Media",
    "Energy",
    "Telecommunications",
    "Government",
    "Professional Services",
)
REGIONS: Final[tuple[str, ...]] = ("NA", "EMEA", "APAC", "LATAM")
# Teams are assigned regions in this rotation, so small companies are mostly North American.
REGION_ROTATION: Final[tuple[int, ...]] = (0, 1, 0, 2, 1, 0, 3, 1, 2)
REGION_COUNTRIES: Final[dict[str, tuple[str, ...]]] = {
    "NA": ("United States", "United States", "United States", "Canada"),
    "EMEA": ("United Kingdom", "Germany", "France", "Netherlands", "Sweden", "Spain", "Türkiye"),
    "APAC": ("Australia", "Japan", "Singapore", "India"),
    "LATAM": ("Brazil", "Mexico", "Chile", "Colombia"),
}
ACCOUNT_NAME_FIRST: Final[tuple[str, ...]] = (
    "Acme",
    "Blue Ridge",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Wonka",
    "Tyrell",
    "Gringotts",
    "Oceanic",
    "Pied Piper",
    "Aperture",
    "Massive",
    "Monarch",
    "Silver Lake",
    "Red Rock",
    "Pine Valley",
    "Granite",
    "Summit",
    "Harbor",
    "Evergreen",
    "Falcon",
    "Atlas",
    "Orion",
    "Nimbus",
    "Vertex",
    "Keystone",
    "Lighthouse",
    "Redwood",
    "Ironclad",
    "Bluewater",
    "Sunrise",
    "Crescent",
    "Riverbend",
    "Meridian",
    "Pinnacle",
    "Cobalt",
    "Sterling",
    "Horizon",
    "Polaris",
    "Quantum",
    "Müller",
    "Nordic",
    "São Paulo",
    "O'Neill",
    "Brightwater",
    "Copperfield",
    "Driftwood",
)
ACCOUNT_NAME_SECOND: Final[tuple[str, ...]] = (
    "Logistics",
    "Systems",
    "Analytics",
    "Foods",
    "Health",
    "Capital",
    "Energy",
    "Labs",
    "Media",
    "Robotics",
    "Software",
    "Retail",
    "Partners",
    "Manufacturing",
    "Networks",
    "Biotech",
    "Motors",
    "Insurance",
    "Consulting",
    "Telecom",
    "Learning",
    "Foundry",
    "Aerospace",
    "Pharma",
    "Digital",
    "Outfitters",
    "Holdings",
    "Industries",
)
# Appended as is (with their separator), so some names carry a comma or quotes.
ACCOUNT_NAME_SUFFIX: Final[tuple[str, ...]] = (
    " Inc.",
    ", Inc.",
    " LLC",
    " Ltd",
    " GmbH",
    " Corp",
    " Group",
    " & Co.",
    " S.A.",
    " plc",
    " Pty Ltd",
    " AG",
    "",
    ' (formerly "Nova")',
)
ACCOUNT_NAME_SUFFIX_WEIGHT: Final = np.array([12, 6, 10, 6, 5, 6, 6, 2, 3, 3, 2, 3, 30, 0.5])
FIRST_NAMES: Final[tuple[str, ...]] = (
    "Alex",
    "Maria",
    "James",
    "Priya",
    "Chen",
    "Fatima",
    "Lucas",
    "Sofia",
    "Noah",
    "Aisha",
    "Liam",
    "Emma",
    "Mateo",
    "Yuki",
    "Olivia",
    "Omar",
    "Hannah",
    "Diego",
    "Zoe",
    "Ravi",
    "Ingrid",
    "Kwame",
    "Elena",
    "Tomás",
    "Grace",
    "Jonas",
    "Leila",
    "Marco",
    "Nora",
    "Sanjay",
    "Chloe",
    "Felix",
    "Amara",
    "Hugo",
    "Mei",
    "Owen",
    "Isabel",
    "Kenji",
    "Lara",
    "Samuel",
)
LAST_NAMES: Final[tuple[str, ...]] = (
    "Smith",
    "Garcia",
    "Müller",
    "Patel",
    "Wang",
    "Okafor",
    "Johansson",
    "Rossi",
    "Kim",
    "Dubois",
    "Nguyen",
    "Silva",
    "Cohen",
    "Tanaka",
    "Novak",
    "Fernández",
    "Brown",
    "Schmidt",
    "Haddad",
    "O'Brien",
    "Kowalski",
    "Andersen",
    "Moreau",
    "Ibrahim",
    "Lopez",
    "Walker",
    "Sato",
    "Costa",
    "Murphy",
    "Larsen",
    "Popescu",
    "Reyes",
    "Khan",
    "Becker",
    "Hughes",
)

# ------------------------------------------------------------------------------------ products
PRODUCT_FAMILIES: Final[tuple[str, ...]] = ("Platform", "Analytics", "Integrations", "Services")
# (name, family index, list price, popularity)
PRODUCT_CATALOGUE: Final[tuple[tuple[str, int, float, float], ...]] = (
    ("Platform Starter", 0, 1_200.0, 1.4),
    ("Platform Professional", 0, 6_000.0, 1.6),
    ("Platform Enterprise", 0, 48_000.0, 1.3),
    ("Analytics Insights", 1, 2_500.0, 1.0),
    ("Analytics Advanced", 1, 14_000.0, 1.0),
    ("Analytics Data Cloud", 1, 95_000.0, 0.7),
    ("Connector Pack", 2, 4_000.0, 0.8),
    ("API Plus", 2, 9_500.0, 0.7),
    ("Integration Hub", 2, 30_000.0, 0.6),
    ("Onboarding Package", 3, 3_000.0, 0.6),
    ("Premium Support", 3, 18_000.0, 0.5),
    ("Strategic Advisory", 3, 65_000.0, 0.3),
)
PRODUCT_LIST_PRICE: Final = np.array([p[2] for p in PRODUCT_CATALOGUE])
PRODUCT_FAMILY_INDEX: Final = np.array([p[1] for p in PRODUCT_CATALOGUE])
PRODUCT_POPULARITY: Final = np.array([p[3] for p in PRODUCT_CATALOGUE])
# Each segment buys around its own price point: weight falls off with log-distance to it.
SEGMENT_TARGET_PRICE: Final = np.array([2_500.0, 12_000.0, 45_000.0])
SEGMENT_QUANTITY_LOG_MEDIAN: Final = np.log([2.0, 5.0, 10.0])
SEGMENT_DISCOUNT_MEAN: Final = np.array([0.05, 0.12, 0.20])

# ------------------------------------------------------------------------- opportunity types
OPPORTUNITY_TYPES: Final[tuple[str, ...]] = ("New Business", "Expansion", "Renewal")
OPPORTUNITY_TYPE_SHARE: Final = np.array([0.60, 0.25, 0.15])

# --------------------------------------------------------------------------------- lead funnel
LEAD_SOURCES: Final[tuple[str, ...]] = (
    "Web",
    "Referral",
    "Partner",
    "Event",
    "Outbound",
    "Paid Search",
)
# Expansions and renewals come from the installed base, not from a lead.
EXISTING_CUSTOMER_SOURCE: Final = "Existing Customer"
OPPORTUNITY_SOURCES: Final[tuple[str, ...]] = LEAD_SOURCES + (EXISTING_CUSTOMER_SOURCE,)
# Source mix of new-business opportunities per segment (rows: segment, columns: LEAD_SOURCES).
SOURCE_MIX_BY_SEGMENT: Final = np.array(
    [
        [0.36, 0.12, 0.08, 0.08, 0.12, 0.24],
        [0.28, 0.13, 0.14, 0.12, 0.18, 0.15],
        [0.14, 0.14, 0.18, 0.18, 0.30, 0.06],
    ]
)
# Share of a source's leads that convert to an opportunity.
LEAD_CONVERSION: Final = np.array([0.30, 0.55, 0.45, 0.25, 0.22, 0.28])
# Unconverted leads end as Nurturing with this probability, otherwise Disqualified.
LEAD_NURTURE_SHARE: Final = np.array([0.45, 0.30, 0.40, 0.55, 0.35, 0.40])
LEAD_TO_CONVERSION_MEAN_DAYS: Final = np.array([10.0, 5.0, 8.0, 18.0, 25.0, 7.0])
LEAD_REVIEW_MEAN_DAYS: Final = 21.0
# (source index, campaign base name, carries the year, quality): quality shifts its conversion.
CAMPAIGNS: Final[tuple[tuple[int, str, bool, float], ...]] = (
    (0, "Website Organic", False, 1.0),
    (0, "Content Download", True, 0.7),
    (0, "Webinar Series", True, 1.3),
    (1, "Customer Referral Program", False, 1.0),
    (2, "Partner Co-Sell", False, 1.2),
    (2, "Reseller Network", False, 0.8),
    (3, "Industry Summit", True, 1.2),
    (3, "Regional Roadshow", True, 0.8),
    (3, "Trade Show Booth", True, 0.7),
    (4, "SDR Cold Outreach", True, 0.8),
    (4, "Account-Based Outreach", True, 1.3),
    (5, "Google Ads - Brand", False, 1.4),
    (5, "Google Ads - Generic", False, 0.7),
    (5, "LinkedIn Ads", True, 0.9),
)
CAMPAIGN_SOURCE: Final = np.array([c[0] for c in CAMPAIGNS])
CAMPAIGN_QUALITY: Final = np.array([c[3] for c in CAMPAIGNS])
LEAD_STATUSES: Final[tuple[str, ...]] = ("Open", "Nurturing", "Disqualified", "Converted")

# ------------------------------------------------------------------- stage progression model
# a_k(x) = sigmoid(ADVANCE_BASE[k] + sum of effects * per-stage weights).
ADVANCE_BASE: Final = np.array([0.40, 0.60, 0.85, 1.25, 1.80])
SEGMENT_ADVANCE_EFFECT: Final = np.array([0.25, 0.0, -0.30])
SOURCE_ADVANCE_EFFECT: Final = np.array([0.0, 0.35, 0.18, -0.05, -0.30, -0.12, 0.45])
SOURCE_STAGE_WEIGHT: Final = np.array([1.0, 0.8, 0.5, 0.3, 0.2])
TYPE_ADVANCE_EFFECT: Final = np.array([0.0, 0.25, 0.80])
FAMILY_ADVANCE_EFFECT: Final = np.array([0.10, 0.0, 0.05, -0.12])
SKILL_STAGE_WEIGHT: Final = np.array([0.6, 0.8, 1.0, 1.0, 0.8])
OWNER_SKILL_SD: Final = 0.30
ACCOUNT_FIT_SD: Final = 0.25
# Bigger deals than usual for their segment are harder, mostly in the late stages.
LOG_AMOUNT_EFFECT: Final = -0.25
LOG_AMOUNT_STAGE_WEIGHT: Final = np.array([0.3, 0.6, 1.0, 1.0, 0.7])
# A deeper discount than usual helps in negotiation.
DISCOUNT_EFFECT: Final = 2.0
DISCOUNT_STAGE_WEIGHT: Final = np.array([0.0, 0.0, 0.3, 1.0, 1.0])

# ------------------------------------------------------------------------------ stage timing
STAGE_MEDIAN_DAYS: Final = np.array([12.0, 18.0, 22.0, 18.0, 12.0])
SEGMENT_DURATION_FACTOR: Final = np.array([0.6, 1.0, 1.7])
TYPE_DURATION_FACTOR: Final = np.array([1.0, 0.85, 0.7])
DURATION_SIGMA: Final = 0.65
QUARTER_PULL_WINDOW_DAYS: Final = 14
QUARTER_PULL_PROBABILITY: Final = 0.35
# Probability that the amount is revised on entering each open stage, and how (log factor).
AMOUNT_REVISION_PROBABILITY: Final = np.array([0.0, 0.25, 0.50, 0.45, 0.25])
AMOUNT_REVISION_LOG_MEAN: Final = np.array([0.0, 0.03, -0.02, -0.05, -0.02])
AMOUNT_REVISION_LOG_SD: Final = 0.18
WON_AMOUNT_ADJUST_PROBABILITY: Final = 0.25
# Probability that the rep re-estimates the close date on entering each open stage, and at
# each weekly pipeline review while in it: the new date can be later or earlier (a pull-in).
CLOSE_DATE_REESTIMATE_PROBABILITY: Final = np.array([0.0, 0.2, 0.35, 0.35, 0.45])
REVIEW_INTERVAL_DAYS: Final = 7
MAX_REVIEWS_PER_STAGE: Final = 8
CLOSE_DATE_REFORECAST_PROBABILITY: Final = np.array([0.50, 0.55, 0.60, 0.60, 0.50])
PULL_IN_ACCEPT_PROBABILITY: Final = 0.35
# Log-bias and spread of close-date estimates: reps are optimistic, most of all at creation.
INITIAL_ESTIMATE_LOG_MEAN: Final = -0.45
LATER_ESTIMATE_LOG_MEAN: Final = -0.15
ESTIMATE_LOG_SD: Final = 0.30
SLIP_MIN_DAYS: Final = 14
SLIP_MAX_DAYS: Final = 56
MONTH_END_SNAP_PROBABILITY: Final = 0.4

# ---------------------------------------------------------------------------------- calendar
YEARS_OF_HISTORY: Final = 3
ANNUAL_GROWTH: Final = 0.25
MONTH_FACTOR: Final = np.array([0.90, 1.00, 1.05, 1.00, 1.05, 1.00, 0.85, 0.80, 1.05, 1.10, 1.05, 0.75])
WEEKDAY_FACTOR: Final = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.08, 0.05])  # Monday first
QUOTA_STRETCH: Final = 1.15
