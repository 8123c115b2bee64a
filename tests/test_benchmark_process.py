"""benchmarks/_process.py: the peak memory the benchmark tables report, read the same way on
every system (the resource module's unit differs between Linux and macOS; Windows has none)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A fresh process writes a quarter of a GiB. Its peak starts at least at this process's size
# (Linux keeps a peak across exec, and the child was a fork of this big one), so the checks
# are bounds: at least what it held with the block, at most that or where it started.
PROBE = """
import json, sys, psutil
from _process import peak_rss
before = peak_rss()
rss = psutil.Process().memory_info().rss
kept = b"x" * int(sys.argv[1])  # a size known only when it runs: nothing made at compile time
print(json.dumps({"before": before, "rss": rss, "after": peak_rss()}))
"""
BLOCK = 256 * 2**20


def test_the_peak_is_in_bytes_and_follows_what_the_process_touches():
    done = subprocess.run([sys.executable, "-c", PROBE, str(BLOCK)], cwd=ROOT / "benchmarks",
                          capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    assert seen["before"] >= seen["rss"]  # a peak, in the unit psutil reads the RSS in
    assert seen["after"] >= seen["rss"] + BLOCK
    assert seen["after"] <= max(seen["before"], seen["rss"] + BLOCK) + 64 * 2**20  # bytes, not KiB


def test_the_examples_are_the_repository_s():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _process
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert (_process.EXAMPLES / "chelsea.jpg").is_file()
    assert _process.ROOT == ROOT
