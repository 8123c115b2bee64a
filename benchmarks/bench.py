"""Speed benchmark: per-iteration cost against a roofline, and the default run against a naive baseline.

    python benchmarks/bench.py                  # 512 px, the full table (CPU: ~20 minutes)
    python benchmarks/bench.py --size 256       # a quicker look
    python benchmarks/bench.py --table docs/benchmarks/speed-cpu.md --table docs/benchmarks/baseline-cpu.md

Everything is measured in this one invocation on this machine, so the ratios hold even
on a noisy host; each run happens in a fresh subprocess so its peak memory is its own.
Tables print to stdout (and with --table to the docs' files: benchmarks/_tables.py); images
and a JSON record go to benchmarks/out/ (not committed).

1. seconds per iteration (one forward + backward of the objective) at 256 and 512 px
   in fp32 and bf16, the GFLOP/s achieved, and the roofline: the time the iteration's
   FLOPs would take at the matmul rate of the precision each op runs in;
2. wall time of the default run against a naive baseline written here: one scale,
   fp32, torch's L-BFGS with a strong Wolfe line search for N iterations, same layers,
   weights and loss weights (the way the peer tools run);
3. both outputs scored by the baseline's objective at full resolution (lower is better);
4. peak memory (RSS; CUDA max allocated on a GPU).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from _process import EXAMPLES, ROOT, peak_rss
from _tables import Tables, add_options, machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iter-sizes", default="256,512", help="sizes for the per-iteration table")
    ap.add_argument("--baseline-iterations", type=int, default=300)
    ap.add_argument("--content", default=str(EXAMPLES / "chelsea.jpg"))
    ap.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument("--skip-baseline", action="store_true", help="reuse the baseline image in --out")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a default for the 'default' run, e.g. --set min_size=128")
    ap.add_argument("--only-runs", action="store_true", help="skip the per-iteration table")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    add_options(ap)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"# {machine(args.device)}, torch {torch.__version__}\n")
    tables = Tables(args, args.device)
    if not args.only_runs:
        tables.print(iteration_table(args, roofline(args.device)))
    tables.print(run_table(args, out), new_table=True)
    tables.write()


# ---------------------------------------------------------------- 1. per iteration


def _median_seconds(fn, repeat: int = 5, device=None) -> float:
    fn()  # warm up: allocator, oneDNN/cuDNN kernel choice
    times = []
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _sync(device) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def roofline(device_spec: str) -> dict[str, float]:
    """Matmul GFLOP/s per precision: the most this machine's convolutions could reach."""
    from stylize.core.device import resolve_device

    device = resolve_device(device_spec)
    n = 4096 if device.type == "cuda" else 2048
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        out[name] = 2 * n**3 / _median_seconds(lambda: a @ b, device=device) / 1e9
    return out


def _objective(args, size: int, precision: str):
    """The default objective for the benchmark pair at ``size``, and the starting image."""
    from stylize.config import StylizeConfig
    from stylize.core.engine import Stylizer
    from stylize.core.objective import Objective
    from stylize.media.imageio import load_image, resize_long_edge, to_tensor

    cfg = StylizeConfig(size=size, device=args.device, precision=precision)
    stylizer = Stylizer(cfg)
    content = to_tensor(resize_long_edge(load_image(args.content), size)).to(stylizer.device)
    targets = stylizer.styles.targets([args.style], content, size)
    objective = Objective(stylizer.extractor, content, targets, stylizer.cfg, bf16=precision == "bf16")
    return objective, content, stylizer.device


def iteration_table(args, roof: dict[str, float]) -> str:
    rows = ["| size | precision | s / iteration | GFLOP / iteration (conv + Gram) | GFLOP/s | roofline s |"
            " of roofline |", "|---|---|---|---|---|---|---|"]
    for size in map(int, args.iter_sizes.split(",")):
        for precision in ("fp32", "bf16"):
            objective, content, device = _objective(args, size, precision)
            x = content.clone().requires_grad_(True)

            def step():
                x.grad = None
                objective(x)["total"].backward()

            conv, gram = _flops(step)
            # The convolutions run in the chosen precision; the Gram matrices always in fp32
            # (bf16 Grams lose the small differences the style loss is made of).
            bound = conv / roof[precision] + gram / roof["fp32"]
            seconds = _median_seconds(step, device=device)
            rows.append(f"| {size} | {precision} | {seconds:.3f} | {conv:.0f} + {gram:.0f} |"
                        f" {(conv + gram) / seconds:.0f} | {bound:.3f} | {bound / seconds:.0%} |")
    return "\n".join(rows) + f"\n\nmatmul roofline: fp32 {roof['fp32']:.0f}, bf16 {roof['bf16']:.0f} GFLOP/s\n"


def _flops(step) -> tuple[float, float]:
    """GFLOP of one call of ``step``: (convolutions, matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    ops = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    conv = sum(n for op, n in ops.items() if "convolution" in op)
    return conv / 1e9, (counter.get_total_flops() - conv) / 1e9


# ---------------------------------------------------------------- 2-4. whole runs


def run_table(args, out: Path) -> str:
    records = {}
    for kind in ("baseline", "default"):
        image = out / f"{kind}_{args.size}.png"
        if kind == "baseline" and args.skip_baseline and image.exists():
            records[kind] = json.loads((out / f"{kind}_{args.size}.json").read_text())
            continue
        command = [sys.executable, __file__, "--worker", kind, "--size", str(args.size), "--content", args.content,
                   "--style", args.style, "--device", args.device, "--out", str(out),
                   "--baseline-iterations", str(args.baseline_iterations), *sum((["--set", s] for s in args.set), [])]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{kind} run failed:\n{done.stderr}")
        records[kind] = json.loads(done.stdout.strip().splitlines()[-1])
        (out / f"{kind}_{args.size}.json").write_text(json.dumps(records[kind]))
    scores = score(args, [out / f"{k}_{args.size}.png" for k in records])
    base = records["baseline"]["seconds"]
    rows = [f"| {args.size} px run | settings | wall s | vs baseline | objective (baseline's, full res) |"
            " peak RSS MiB | CUDA max MiB |", "|---|---|---|---|---|---|---|"]
    for (kind, rec), value in zip(records.items(), scores):
        rows.append(f"| {kind} | {rec['settings']} | {rec['seconds']:.1f} | {base / rec['seconds']:.2f}x faster |"
                    f" {value:.4f} | {rec['rss_mib']:.0f} | {rec['cuda_mib']:.0f} |")
    return "\n".join(rows) + "\n"


def worker(args) -> None:
    """One whole run in this fresh process; prints a JSON record as its last line."""
    started = time.perf_counter()
    if args.worker == "baseline":
        image, settings = naive_baseline(args)
    else:
        image, settings = default_run(args)
    seconds = time.perf_counter() - started
    image.save(Path(args.out) / f"{args.worker}_{args.size}.png")
    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0
    rss = peak_rss() / 2**20
    print(json.dumps({"seconds": seconds, "settings": settings, "rss_mib": rss, "cuda_mib": cuda}))


def default_run(args):
    from stylize import StylizeConfig, run

    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        kind = type(getattr(StylizeConfig(), key))
        overrides[key] = kind(float(value)) if kind in (int, float) else value
    cfg = replace(StylizeConfig(size=args.size, device=args.device), **overrides)
    result = run(args.content, args.style, config=cfg)
    c = result.config
    scales = f"min-size {c.min_size}, {c.coarse_iterations} coarse + {c.iterations} its" if c.min_size else \
        f"one scale, {c.iterations} its"
    from stylize.core.plan import schedule

    scales = " + ".join(f"{n}" for _, n in schedule(c)) + " its" if c.min_size else scales
    return result.image, f"stylize: {scales}, {result.precision}, history {c.history}, {result.steps} steps"


def naive_baseline(args):
    """How the peer tools run: one scale, fp32, a single L-BFGS call of N iterations.

    Like them it optimizes the unclamped iterate and clamps only the saved image (stylize's
    objective scores the clamped image: see objective.py).
    """
    from stylize.core.objective import Objective
    from stylize.media.imageio import to_image

    class Unclamped(Objective):
        def statistics(self, crop, window):
            features = self.features(crop)
            return [term.statistics(features, crop, window) for term in self.terms]

    objective, content, _ = _objective(args, args.size, "fp32")
    objective.__class__ = Unclamped
    x = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([x], max_iter=args.baseline_iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=0.0, tolerance_change=0.0)

    def closure():
        optimizer.zero_grad()
        loss = objective(x)["total"]
        loss.backward()
        return loss

    optimizer.step(closure)
    evals = optimizer.state[optimizer._params[0]]["func_evals"]
    return to_image(x.detach()), f"naive: 1 scale, fp32, L-BFGS {args.baseline_iterations} its ({evals} evals)"


def score(args, images: list[Path]) -> list[float]:
    """The baseline's objective (fp32, full resolution) on each saved output."""
    from stylize.media.imageio import load_image, to_tensor

    objective, _, device = _objective(args, args.size, "fp32")
    with torch.no_grad():
        return [objective(to_tensor(load_image(p)).to(device))["total"].item() for p in images]


if __name__ == "__main__":
    main()
