"""What every benchmark script reads of where it runs: the repository's examples, and its
own process's peak memory on Linux, macOS and Windows alike.

The scripts import this module by name, as they do _tables: running `python
benchmarks/NAME.py` puts benchmarks/ on sys.path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def peak_rss() -> int:
    """This process's peak resident size so far, in bytes.

    The resource module is Unix-only and says it in KiB on Linux but in bytes on macOS;
    Windows keeps the peak working set, which psutil reads. On Linux a process started by
    another begins at least at the size its parent had when it forked (the peak survives exec):
    the scripts' workers peak far above their small parents.
    """
    if sys.platform == "win32":
        return psutil.Process().memory_info().peak_wset
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
