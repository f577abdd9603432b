"""Severity of an expectation: an ``error`` failure blocks the stage, a ``warning`` is reported.

Suites tag every expectation with ``meta={"severity": ...}`` (the contract the runner and the
audit table read); ``tag()`` also sets GX's own ``severity`` field so Data Docs show the same.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, get_args

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"

_GX_SEVERITY: dict[Severity, str] = {"error": "critical", "warning": "warning"}


class SeverityTag(TypedDict):
    meta: dict[str, Any]
    severity: Any


def tag(severity: Severity, **meta: Any) -> SeverityTag:
    """Keyword arguments for an expectation: ``gxe.ExpectX(column=..., **tag(ERROR))``."""
    if severity not in get_args(Severity):
        raise ValueError(f"severity must be one of {get_args(Severity)}, got {severity!r}")
    return {"meta": {"severity": severity, **meta}, "severity": _GX_SEVERITY[severity]}


def severity_of(meta: dict[str, Any] | None, expectation: str = "expectation") -> Severity:
    """The severity in an expectation's meta; raises if it is missing or unknown."""
    value = (meta or {}).get("severity")
    if value not in get_args(Severity):
        raise ValueError(
            f"{expectation} has no valid meta severity ({value!r}); tag it with "
            "pipecast.validate.severity.tag(ERROR | WARNING)"
        )
    return value
