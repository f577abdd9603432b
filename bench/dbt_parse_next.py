"""`dbt parse` with the vars of the next `pipecast build` (transform.build.build_vars: the slots it
will write), as the night two nights earlier leaves dbt's parse state for them.

    python bench/dbt_parse_next.py        # PIPECAST_* variables point at the benchmark's state

dbt keeps a parse state per set of vars (pipecast.transform.dbt_runner) and the build's vars
alternate between two sets from the third night on. The benchmark's measured night is its second,
whose set no earlier build used; this parse gives it the state an ordinary night finds, so the
incremental build and the full refresh are compared as every later night runs them.
"""

from __future__ import annotations

import sys

from pipecast.config import get_settings
from pipecast.transform import publish
from pipecast.transform.build import build_vars
from pipecast.transform.dbt_runner import dbt_invoke


def main() -> int:
    settings = get_settings()
    dbt_vars = build_vars(settings, publish.UNITS)
    result = dbt_invoke(["parse"], settings, dbt_vars=dbt_vars)
    print(f"dbt parse for {dbt_vars}: {'ok' if result.success else result.exception}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
