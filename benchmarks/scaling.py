"""Big outputs: time, memory and objective of the default command as the size grows.

    python benchmarks/scaling.py                         # 512, 1024, 2048, 4096 px (CPU: hours)
    python benchmarks/scaling.py --sizes 512,1024        # a quicker look
    python benchmarks/scaling.py --sizes 8192 --device cuda
    python benchmarks/scaling.py --tiling-only           # 1024 px in tiles (2 GiB) against whole
    python benchmarks/scaling.py --sizes 4096 --iterations 10   # the last scale shortened
    python benchmarks/scaling.py --sizes 1024 --regions --no-tiling   # two regional styles
    python benchmarks/scaling.py --sizes 1024 --repeat 3   # each run 3 times: medians, peak ranges

Every run is the default command (`stylize content style --size N`: coarse-to-fine, the
memory plan, tiles where a scale does not fit) in a fresh subprocess, so its peak memory
is its own. Printed per size: the plan of the last scale (whole or tiled), wall time,
seconds per output megapixel, the share of the time spent in the coarser scales, the
kernel's share of the process's CPU time (page faults: psutil's system time), peak
RSS (CUDA: max allocated) against the memory the plan was allowed, the plan's own
estimates of both, and the final objective (fp32, the whole image, as bench.py scores).
"last scale" is the cost that does not depend on the schedule: seconds per megapixel and
per iteration of the output size (``--iterations`` shortens only that scale; compare rows
by it). Then 1024 px forced into tiles (``--max-memory 2GiB``) against the same run whole:
objective and time overhead. ``--regions`` runs docs/regions.md's example instead (the coffee
photo, Starry Night on the cup, The Great Wave on the table: two masks), whose memory the plan
counts apart; its objective is the run's own final one (bf16, the last scale). Images and JSON
records go to benchmarks/out/ (not committed).

A run's peak RSS on a CPU differs from run to run by several percent (2048 px: 10% over five runs;
glibc's heap: where a freed block lands depends on the order of everything before it, threads
and address layout included: benchmarks/spread.py). ``--repeat N`` runs each row N times:
times are the medians, and the peak is the range, the estimate's error given against the
highest and the lowest (the estimate is the first run's: each plans with its own process
size, tens of MiB apart).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from _process import EXAMPLES, ROOT, peak_rss
from _tables import Tables, add_options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="512,1024,2048,4096")
    ap.add_argument("--content", default=str(EXAMPLES / "chelsea.jpg"))
    ap.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-memory", help="passed on, e.g. 6GiB (default: what is available)")
    ap.add_argument("--precision", default="auto", help="passed on: auto | fp32 | bf16")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument("--iterations", type=int, help="the output size's iterations (default: the default's)")
    ap.add_argument("--regions", action="store_true", help="docs/regions.md's two-mask example instead")
    ap.add_argument("--tiling-only", action="store_true", help="only the 1024 px tiled-against-untiled rows")
    ap.add_argument("--no-tiling", action="store_true", help="skip the 1024 px tiled-against-untiled rows")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each row: median times, peak ranges")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    add_options(ap)  # --table FILE: the tables also to docs/benchmarks/ (benchmarks/_tables.py)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch
    from bench import machine  # the same machine line as bench.py (benchmarks/ is on sys.path)

    print(f"# {machine(args.device)}, torch {torch.__version__}, {datetime.date.today()}\n")
    tables = Tables(args, args.device)
    if not args.tiling_only:
        kind = (f"-it{args.iterations}" if args.iterations else "") + ("-regions" if args.regions else "")
        sizes = map(int, args.sizes.split(","))
        records = [repeated(args, size, None, f"size{size}{kind}", args.iterations) for size in sizes]
        tables.print(size_table(records))
    if not args.no_tiling:
        whole, tiled = repeated(args, 1024, None, "untiled1024"), repeated(args, 1024, TILED_1024, "tiled1024")
        tables.print(tiling_table(whole, tiled), new_table=True)
    tables.write()


TILED_1024 = "2GiB"  # a 1024 px run needs about 2.9 GiB whole: this budget makes the plan tile it


def repeated(args, size: int, max_memory, name: str, iterations=None) -> dict:
    """``args.repeat`` runs of one row as one record: median times, the peak's range."""
    runs = [spawn(args, size, max_memory, name + (f"-{i + 1}" if args.repeat > 1 else ""), iterations)
            for i in range(args.repeat)]
    record = dict(runs[0])
    for key in ("seconds", "coarse_share", "kernel_share", "last_per_iteration"):
        record[key] = statistics.median(r[key] for r in runs)
    peaks = [r["peak_bytes"] for r in runs]
    record.update(peak_bytes=max(peaks), lowest_peak=min(peaks), runs=len(runs))
    return record


def spawn(args, size: int, max_memory, name: str, iterations=None) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--size", str(size), "--content", args.content,
               "--style", args.style, "--device", args.device, "--out", args.out]
    command += ["--iterations", str(iterations)] if iterations else []
    max_memory = max_memory or args.max_memory
    command += ["--max-memory", max_memory] if max_memory else []
    command += ["--precision", args.precision] + (["--regions"] if args.regions else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    (Path(args.out) / f"{name}.json").write_text(json.dumps(record, indent=1))
    print(f"  {name}: {record['seconds']:.0f} s, objective {record['objective']:.4f}", file=sys.stderr)
    return record


def worker(args) -> None:
    """One default run in this fresh process; prints a JSON record as its last line."""
    import torch

    from stylize import StylizeConfig
    from stylize.config import parse_bytes
    from stylize.core.engine import Stylizer
    from stylize.core.memory import budget

    cfg = StylizeConfig(size=args.size, device=args.device, precision=args.precision,
                        max_memory=parse_bytes(args.max_memory) if args.max_memory else None)
    if args.iterations:
        cfg = replace(cfg, iterations=args.iterations)
    import psutil

    cpu_before = psutil.Process().cpu_times()
    started = time.perf_counter()
    content, styles, masks = args.content, [args.style], None
    if args.regions:  # docs/regions.md's example
        content, styles = str(EXAMPLES / "coffee.jpg"), [str(EXAMPLES / "starry_night.jpg"), str(EXAMPLES / "wave.jpg")]
        masks = [str(EXAMPLES / "coffee_cup_mask.png"), str(EXAMPLES / "coffee_table_mask.png")]
    stylizer = Stylizer(cfg, len(styles))
    from stylize.media.imageio import load_image

    plan = stylizer.plan(load_image(content).size, len(masks or ()))
    scale_started = {}  # long edge -> (time, step) of the scale's first report

    def on_progress(p):
        if p.tile is None:
            scale_started.setdefault(p.size, (time.perf_counter(), p.step))

    result = stylizer.run(content, styles, on_progress=on_progress, masks=masks)
    seconds = time.perf_counter() - started
    cpu = psutil.Process().cpu_times()
    user, system = cpu.user - cpu_before.user, cpu.system - cpu_before.system
    image = Path(args.out) / f"{args.worker}.png"
    result.save(image)
    last = plan.scales[-1]
    # Progress comes after a scale's first iteration: its start is about one iteration earlier.
    fine_start, fine_step = scale_started.get(last.size, (started + seconds, result.steps))
    fine_iterations = max(result.steps - fine_step, 1)  # timed from the end of the first one
    cuda = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
    rss = peak_rss()
    speed = stylizer.speed(len(masks or ()))
    precision = stylizer.precision  # what ran (score() below switches the network to fp32)
    print(json.dumps({
        "size": args.size, "width": last.width, "height": last.height, "seconds": seconds,
        "coarse_share": (fine_start - started) / seconds, "plan": last.how, "history": last.history,
        "scales": [f"{s.size}:{s.iterations}" for s in plan.scales], "steps": result.steps,
        "peak_bytes": cuda or rss, "cuda": bool(cuda), "allowed": budget(stylizer.cfg, stylizer.device),
        "estimated_peak": plan.peak, "estimated_seconds": plan.seconds(speed),
        "objective": result.losses["total"] if masks else score(args, image, stylizer, plan),
        "masks": len(masks or ()), "image": str(image), "precision": precision,
        "kernel_share": system / max(user + system, 1e-9),  # the CPU time the kernel took (page faults)
        "last_per_iteration": (started + seconds - fine_start) / fine_iterations,
    }))


def score(args, image: Path, stylizer, plan) -> float:
    """The default objective in fp32 on the saved image, at full resolution (tiled where the run was)."""
    from stylize.core.objective import Objective
    from stylize.media.imageio import load_image, resize_long_edge, to_tensor

    last = plan.scales[-1]
    stylizer.precision = "fp32"
    stylizer.cfg = replace(stylizer.cfg, precision="fp32")
    content = to_tensor(resize_long_edge(load_image(args.content), last.size)).to(stylizer.device)
    tile = last.tiles.tile if last.tiled else None
    targets = stylizer.styles.targets([args.style], content, last.size, tile)
    objective = Objective(stylizer.extractor, content, targets, stylizer.cfg, tiles=last.tiles)
    return objective.value(to_tensor(load_image(image)).to(stylizer.device))["total"].item()


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def size_table(records: list[dict]) -> str:
    rows = [("| size | last scale | wall s | s / MP | last scale: s / MP / it | coarse scales | kernel |"
             " peak MiB (est., its error) | allowed MiB | est. wall s | objective |"), "|---" * 11 + "|"]
    for r in records:
        mp = r["width"] * r["height"] / 1e6
        masks = f", {r['masks']} masks" if r.get("masks") else ""
        rows.append(f"| {r['width']}x{r['height']}{masks} | {r['plan']}, history {r['history']} | {r['seconds']:.0f} |"
                    f" {r['seconds'] / mp:.0f} | {r['last_per_iteration'] / mp:.2f} | {r['coarse_share']:.0%} |"
                    f" {r.get('kernel_share', 0):.1%} |"
                    f" {_peak(r)} | {_mib(r['allowed'])} | {r['estimated_seconds']:.0f} |"
                    f" {r['objective']:.4f} |")
    kind = "CUDA max allocated" if any(r["cuda"] for r in records) else "peak RSS"
    return "\n".join(rows) + f"\n\npeak: {kind}{_repeats(records)}; schedules: " + "; ".join(
        f"{r['size']}: {' '.join(r['scales'])}" for r in records) + "\n"


def _peak(r: dict) -> str:
    """The peak (or the range of the repeats) with the estimate and its error against each end."""
    high, low, est = r["peak_bytes"], r.get("lowest_peak", r["peak_bytes"]), r["estimated_peak"]
    if r.get("runs", 1) == 1:
        return f"{_mib(high)} ({_mib(est)}, {est / high - 1:+.1%})"
    return f"{_mib(low)}-{_mib(high)} ({_mib(est)}, {est / high - 1:+.1%} / {est / low - 1:+.1%})"


def _repeats(records: list[dict]) -> str:
    runs = max(r.get("runs", 1) for r in records)
    if runs == 1:
        return ""
    return (f"; {runs} runs of each row: median times; the range of the peaks, the estimate's error"
            " against the highest / the lowest")


def tiling_table(whole: dict, tiled: dict) -> str:
    rows = ["| 1024 px | plan | wall s | vs whole | last scale s / it | vs whole | kernel |"
            " peak MiB (est., its error) | objective | vs whole |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in (("whole", whole), (f"tiled (--max-memory {TILED_1024})", tiled)):
        it, whole_it = r["last_per_iteration"], whole["last_per_iteration"]
        rows.append(f"| {name} | {r['plan']}, history {r['history']} | {r['seconds']:.0f} |"
                    f" {r['seconds'] / whole['seconds']:.2f}x | {it:.2f} | {it / whole_it:.2f}x |"
                    f" {r.get('kernel_share', 0):.1%} | {_peak(r)} | {r['objective']:.4f} |"
                    f" {r['objective'] / whole['objective'] - 1:+.2%} |")
    return "\n".join(rows) + "\n" + (f"\n{_repeats([whole, tiled]).lstrip('; ')}\n" if whole.get("runs", 1) > 1 else "")


if __name__ == "__main__":
    main()
