"""Where a default run's time goes, scale by scale: evaluations of the objective, and the rest.

    python benchmarks/phases.py --size 1024 --iterations 10,50

One run per --iterations value (the output size's), each with a fresh Stylizer. Per scale: its
iterations, the evaluations L-BFGS asked for and their time, and the time outside them (the
scale's setup: its content and style targets; L-BFGS's own arithmetic; after the last scale,
the closing fp32 evaluation), against the plan's time model (plan.EXTRA_EVALUATIONS). A
scale's time runs from the end of the previous scale's last evaluation to the end of its own
(the last scale's to the end of the run); the time before the first scale's first evaluation
(the network's loading, and the first scale's small setup) is the row "start".
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from dataclasses import replace

from _process import EXAMPLES
from _tables import Tables, add_options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--iterations", default="10,50", help="the output size's iterations, one run each")
    ap.add_argument("--content", default=str(EXAMPLES / "chelsea.jpg"))
    ap.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    ap.add_argument("--device", default="auto")
    add_options(ap)
    args = ap.parse_args()
    tables = Tables(args, args.device)
    for iterations in map(int, args.iterations.split(",")):
        tables.print(phase_table(args, iterations), new_table=True, flush=True)
    tables.write()


@contextmanager
def evaluations_timed(events: list):
    """Appends (long edge, start, end) for every evaluation of the objective while inside."""
    from stylize.core.objective import Objective

    original = Objective.value_and_grad

    def timed(self, x, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, x, *args, **kwargs)
        finally:
            events.append((max(x.shape[-2:]), start, time.perf_counter()))

    Objective.value_and_grad = timed
    try:
        yield events
    finally:
        Objective.value_and_grad = original


def phase_table(args, iterations: int) -> str:
    from stylize import StylizeConfig
    from stylize.core.engine import Stylizer
    from stylize.core.plan import EXTRA_EVALUATIONS
    from stylize.media.imageio import load_image

    began = time.perf_counter()
    with evaluations_timed([]) as events:
        stylizer = Stylizer(replace(StylizeConfig(size=args.size, device=args.device), iterations=iterations))
        plan = stylizer.plan(load_image(args.content).size)
        stylizer.run(args.content, [args.style])
    ended = time.perf_counter()
    speed = stylizer.speed()  # after the run: its evaluations are not among the events
    rows = [f"| {args.size} px, {iterations} iterations | iterations | evaluations | in evaluations s |"
            " outside s | outside, in evaluations | estimate s | measured s |", "|---" * 8 + "|",
            f"| start | | | | {events[0][1] - began:.1f} | | | |"]
    boundary = events[0][1]
    for i, scale in enumerate(plan.scales):
        mine = [(start, end) for size, start, end in events if size == scale.size]
        inside = sum(end - start for start, end in mine)
        finish = ended if i == len(plan.scales) - 1 else mine[-1][1]
        outside = finish - boundary - inside
        rows.append(f"| {scale.width}x{scale.height} | {scale.iterations} | {len(mine)} | {inside:.1f} |"
                    f" {outside:.1f} | {outside / (inside / len(mine)):.1f} | {scale.seconds(speed):.1f} |"
                    f" {finish - boundary:.1f} |")
        boundary = finish
    rows.append(f"\nThe estimate counts {EXTRA_EVALUATIONS} evaluations a scale besides one per iteration; the"
                f" speed it uses was timed after the run. Wall time {ended - began:.1f} s, estimate"
                f" {plan.seconds(speed):.1f} s.")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
