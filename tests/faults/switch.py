"""Publish one unit's slot (pipecast.transform.publish) from a process of its own, for the kill tests.

python -m tests.faults.switch <slot schema> <model> [<model> ...]
"""

from __future__ import annotations

import sys

from pipecast.config import get_settings
from pipecast.transform.publish import publish

if __name__ == "__main__":
    publish(get_settings(), {"marts": (sys.argv[1], sys.argv[2:])})
