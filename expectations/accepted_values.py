"""Reference values the suites accept: reviewable here, edited per tenant like the suites.

Compared case-insensitively (``pipecast.validate.expect.case_variants``): a source that writes
``retail`` and one that writes ``Retail`` both pass; a typo like ``technolgy`` does not.
"""

from __future__ import annotations

# Industries: the demo company's, Salesforce's standard Industry picklist, and the sectors of the
# public Maven CRM dataset (../shared/datasets/maven_crm_pipeline).
INDUSTRIES: tuple[str, ...] = (
    # demo generator
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
    # Salesforce Account.Industry picklist
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Electronics",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Not For Profit",
    "Other",
    "Recreation",
    "Shipping",
    "Technology",
    "Transportation",
    "Utilities",
    # further common sectors
    "Marketing",
    "Medical",
    "Services",
    "Employment",
    "Pharmaceuticals",
    "Real Estate",
    "Automotive",
    "Aerospace",
    "Legal",
)

# Values exports use for "nothing chosen": a form's unselected drop-down (``Select``), spreadsheet
# placeholders. In a category column they are missing values posing as a category.
PLACEHOLDERS: tuple[str, ...] = (
    "Select",
    "-- Select --",
    "Please Select",
    "N/A",
    "n/a",
    "null",
    "NULL",
    "None",
    "none",
    "nan",
    "NaN",
    "-",
    "--",
    "?",
    "TBD",
    "",
)
