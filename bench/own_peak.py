"""Run a command as the child of this small process, so that its peak memory is its own.

    python bench/own_peak.py PEAK.json -- command [args...]

On Linux a process's ru_maxrss survives exec: a command the benchmark started itself would report
the benchmark process's peak whenever that is the larger (it has queried warehouses and, for the
validation probe, built one). A command forked from this launcher starts from the launcher's few
megabytes instead. Writes {"maxrss_kib": ...} (the command's, with any children it waited for)
to PEAK.json and exits with the command's exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit(__doc__)
    out, command = argv[0], argv[2:]
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    with open(out, "w") as fh:
        json.dump({"maxrss_kib": usage.ru_maxrss}, fh)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
