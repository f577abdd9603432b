"""How a task fails: errors a retry cannot fix fail the task at once; the rest are retried.

Input, configuration and integrity errors (``pipecast.errors.NOT_RETRIABLE``: a quarantined export,
a failed error-severity check, a bad setting, a tampered model file) become Airflow's
AirflowFailException, which skips the remaining retries; any other exception is left for
Airflow's retries with backoff. Every task of the DAGs is wrapped with ``fail_without_retry``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pipecast.errors import NOT_RETRIABLE

P = ParamSpec("P")
R = TypeVar("R")


def fail_without_retry(func: Callable[P, R]) -> Callable[P, R]:
    """``func``, with pipecast's not-retriable errors raised as AirflowFailException."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except NOT_RETRIABLE as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper
