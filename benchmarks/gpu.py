"""One NVIDIA GPU, one command: the CUDA tests, then the default command at print sizes and a video.

    python benchmarks/gpu.py                       # an H100/H200: a few minutes (budget: 8)
    python benchmarks/gpu.py --max-memory 20GiB    # the 8192 px run's budget (the default: a 24 GB card's)
    python benchmarks/gpu.py --skip 8192           # leave a row out (tests, 512, 512-fp32, 2048, 8192, video)
    python benchmarks/gpu.py --smoke               # the same rows at 1/16 the size on the CPU: checks the script
    python benchmarks/gpu.py --table docs/benchmarks/gpu-NAME.md   # the table also to a docs file

Prints one table (markdown, for docs/benchmarks/ and the issue):
1. `pytest -m cuda`: the tests that need the GPU (tests/test_cuda.py), passed/failed;
2. the default command at 512 px (the precision `auto` chose) and again in fp32, so the
   bf16/fp32 choice shows as a ratio measured in this run;
3. 2048 px, and 8192 px held to --max-memory so that its last scales run in tiles, as on a
   consumer card;
4. a 256 px video (a pan over examples/chelsea.jpg made here, as benchmarks/flicker.py does):
   seconds per frame.
Each run is a fresh subprocess (scaling.py's worker), so CUDA's max allocated is its own; its
objective is scored in fp32 at full size. Images and JSON records go to benchmarks/out/gpu/.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from _process import EXAMPLES, ROOT
from _tables import Tables, add_options

ROWS = ("tests", "512", "512-fp32", "2048", "8192", "video")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-memory", default="20GiB", help="the 8192 px run's memory budget (default: 20GiB)")
    ap.add_argument("--content", default=str(EXAMPLES / "chelsea.jpg"))
    ap.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    ap.add_argument("--frames", type=int, default=24, help="frames of the 256 px video (default: 24)")
    ap.add_argument("--skip", default="", help=f"comma-separated rows to leave out: {', '.join(ROWS)}")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "gpu"))
    ap.add_argument("--smoke", action="store_true", help="1/16 the sizes, on the CPU: a check of this script")
    ap.add_argument("--video-worker", action="store_true", help=argparse.SUPPRESS)
    add_options(ap)
    args = ap.parse_args()
    args.device, args.div = ("cpu", 16) if args.smoke else ("cuda", 1)
    if args.video_worker:
        return video_worker(args)
    import torch

    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py: no CUDA device here (torch.cuda.is_available() is False)")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    print(header() if not args.smoke else "# --smoke: on the CPU at 1/16 the sizes\n", flush=True)
    started, skip = time.perf_counter(), set(filter(None, args.skip.split(",")))
    rows = ["| check | result | wall s | per unit | CUDA peak GiB | precision | objective |",
            "|---|---|---|---|---|---|---|"]
    rows += [tests_row()] if "tests" not in skip else []
    runs = {name: run_size(args, size, precision, memory) for name, size, precision, memory in (
        ("512", 512, "auto", None), ("512-fp32", 512, "fp32", None), ("2048", 2048, "auto", None),
        ("8192", 8192, "auto", args.max_memory)) if name not in skip}
    rows += [size_row(name, r, runs.get("512")) for name, r in runs.items()]
    rows += [video_row(spawn_video(args))] if "video" not in skip else []
    tables = Tables(args, args.device)
    tables.print("\n".join(rows))
    tables.print(f"\ntotal {time.perf_counter() - started:.0f} s; per unit: seconds per output megapixel"
                 " (a video: per frame); vs: against the 512 px default run of this table")
    tables.write()


def header() -> str:
    import torch

    from stylize.core.device import resolve_device, resolve_precision

    device = resolve_device("auto")
    props = torch.cuda.get_device_properties(device)
    return (f"# {props.name}, compute capability {props.major}.{props.minor}, {props.total_memory / 2**30:.0f} GiB;"
            f" torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()};"
            f" --device auto -> {device}, --precision auto -> {resolve_precision('auto', device)}\n")


def tests_row() -> str:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
    counts = ", ".join(re.findall(r"\d+ (?:passed|failed|skipped|errors?)", summary)) or summary
    return f"| pytest -m cuda | {counts} | {seconds:.0f} | | | | |"


def run_size(args, size: int, precision: str, max_memory) -> dict:
    from scaling import spawn  # the default command in a fresh process (benchmarks/ is on sys.path)

    name = f"gpu{size}" + ("" if precision == "auto" else precision) + ("tiled" if max_memory else "")
    tile = None
    if args.smoke and max_memory:  # on the CPU the process, not the image, fills the memory: force tiles
        max_memory, tile = None, 128
    run_args = argparse.Namespace(content=args.content, style=args.style, device=args.device, out=args.out,
                                  max_memory=max_memory, precision=precision)
    return spawn(run_args, size // args.div, tile, name)


def size_row(name: str, r: dict, base) -> str:
    mp = r["width"] * r["height"] / 1e6
    budget = f", within {r['allowed'] / 2**30:.1f} GiB" if r["plan"] != "whole" and r["allowed"] else ""
    vs = f" ({r['seconds'] / base['seconds']:.2f}x the 512 px run)" if base and r is not base else ""
    return (f"| {r['width']}x{r['height']} px{' fp32' if name.endswith('fp32') else ''} | last scale {r['plan']}"
            f"{budget}, {r['steps']} steps | {r['seconds']:.1f}{vs} | {r['seconds'] / mp:.1f} s/MP |"
            f" {r['peak_bytes'] / 2**30:.2f} (est. {r['estimated_peak'] / 2**30:.2f}) | {r['precision']} |"
            f" {r['objective']:.4f} |")


def spawn_video(args) -> dict:
    command = [sys.executable, __file__, "--video-worker", "--frames", str(args.frames), "--style", args.style,
               "--out", args.out] + (["--smoke"] if args.smoke else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"video failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def video_worker(args) -> None:
    """A 256 px clip stylized with the video defaults in this fresh process; a JSON line last."""
    import torch
    from flicker import make_clip

    from stylize import StylizeConfig, VideoConfig, stylize_video

    out = Path(args.out)
    size = max(64, 256 // args.div)
    clip = make_clip(out / f"clip{size}.mp4", args.frames, size)
    started = time.perf_counter()
    summary = stylize_video(clip, [args.style], out / f"clip{size}_painted.mp4",
                            StylizeConfig(size=size, device=args.device), VideoConfig())
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else 0
    print(json.dumps({"frames": summary["frames"], "size": list(summary["size"]), "seconds": seconds,
                      "peak_bytes": peak}))


def video_row(r: dict) -> str:
    w, h = r["size"]
    return (f"| {w}x{h} px video, {r['frames']} frames | video defaults | {r['seconds']:.1f} |"
            f" {r['seconds'] / r['frames']:.2f} s/frame | {r['peak_bytes'] / 2**30:.2f} | auto | |")


if __name__ == "__main__":
    main()
