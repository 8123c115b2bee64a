"""Why a CPU run's peak memory differs from run to run: the same run, in fresh processes.

    python benchmarks/spread.py --size 512 --iterations 10 --runs 5

Each row runs the default command ``--runs`` times, one process each, and gives the range of
the peak RSS and the median wall time:
- "as users run it": nothing pinned.
- "pinned": what can differ between two runs of one program held fixed: one thread
  (``OMP_NUM_THREADS=1``), Python's string hashes (``PYTHONHASHSEED=0``) and the address
  layout (``setarch -R``, Linux's util-linux; the row is left out where it is missing).
  Where every run of it peaks alike, the spread comes from where glibc's heap places the
  blocks, which those three decide, not from what the run computes (the losses are the same
  in every row, to the byte).
- "trimmed after every evaluation": ``malloc_trim`` after each evaluation hands the heap's
  free pages back, so the peak is what one evaluation holds: less spread, more kernel time.
Linux (glibc) only, as the heap setting it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

from _process import EXAMPLES, peak_rss
from _tables import Tables, add_options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=10, help="the output size's iterations")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--worker", choices=["plain", "trim"], help=argparse.SUPPRESS)
    add_options(ap)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    tables = Tables(args, "cpu")
    rows = ["| how | peak MiB | spread | median wall s | median system s | total loss |", "|---|---|---|---|---|---|"]
    for name, worker_kind, env, prefix in conditions():
        runs = [spawn(args, worker_kind, env, prefix) for _ in range(args.runs)]
        peaks = [r["peak_mib"] for r in runs]
        losses = sorted({f"{r['loss']:.6f}" for r in runs})
        rows.append(f"| {name} | {min(peaks):,.0f}-{max(peaks):,.0f} | {max(peaks) / min(peaks) - 1:.1%} |"
                    f" {statistics.median(r['seconds'] for r in runs):.1f} |"
                    f" {statistics.median(r['system'] for r in runs):.1f} | {', '.join(losses)} |")
        print(f"  {name}: {peaks}", file=sys.stderr)
    tables.print("\n".join(rows) + f"\n\n{args.size} px, {args.iterations} iterations at the last scale,"
                 f" {args.runs} processes a row\n")
    tables.write()


def conditions() -> list[tuple[str, str, dict, list[str]]]:
    pinned = {"OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    setarch = shutil.which("setarch")
    found = [("as users run it", "plain", {}, [])]
    if setarch:
        found.append(("pinned (1 thread, hash seed, no address randomization)", "plain", pinned,
                      [setarch, platform.machine(), "-R"]))
    found.append(("trimmed after every evaluation", "trim", {}, []))
    return found


def spawn(args, kind: str, env: dict, prefix: list[str]) -> dict:
    command = [*prefix, sys.executable, __file__, "--worker", kind, "--size", str(args.size),
               "--iterations", str(args.iterations)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker(args) -> None:
    """One default run in this process; its peak RSS, time and loss as a JSON line."""
    import time
    from dataclasses import replace

    import psutil

    from stylize import StylizeConfig
    from stylize.core import objective
    from stylize.core.engine import Stylizer
    from stylize.core.memory import release_freed_memory

    if args.worker == "trim":
        evaluate = objective.Objective.value_and_grad

        def trimmed(self, *a, **k):
            try:
                return evaluate(self, *a, **k)
            finally:
                release_freed_memory()

        objective.Objective.value_and_grad = trimmed
    started = time.perf_counter()
    stylizer = Stylizer(replace(StylizeConfig(size=args.size), iterations=args.iterations))
    result = stylizer.run(str(EXAMPLES / "chelsea.jpg"), [str(EXAMPLES / "starry_night.jpg")])
    print(json.dumps({"peak_mib": peak_rss() / 2**20, "seconds": time.perf_counter() - started,
                      "system": psutil.Process().cpu_times().system, "loss": result.losses["total"]}))


if __name__ == "__main__":
    main()
