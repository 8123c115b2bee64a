"""How the default loss weights and iteration count were chosen.

Runs a grid of style weights (and a few TV weights) on example pairs with the
bundled VGG19, records the loss after every iteration and writes, per pair, a
contact sheet: one row per setting, one column per iteration count. Look at the
sheets; docs/defaults.md says what was picked from them.

    python benchmarks/tune_weights.py --size 512 --out benchmarks/out
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageDraw

from stylize import StylizeConfig, run

PAIRS = [("chelsea.jpg", "starry_night.jpg"), ("astronaut.jpg", "the_scream.jpg"),
         ("coffee.jpg", "wave.jpg"), ("chelsea.jpg", "shipwreck.jpg")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--style-weights", default="1e2,3e2,1e3,3e3,1e4")
    ap.add_argument("--tv-weights", default="")
    ap.add_argument("--pairs", type=int, default=len(PAIRS))
    ap.add_argument("--cell", type=int, default=256)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = StylizeConfig(size=args.size, iterations=args.iterations, save_every=args.every,
                         device=args.device)
    settings = [replace(base, style_weight=float(w)) for w in args.style_weights.split(",")]
    settings += [replace(base, tv_weight=float(w)) for w in args.tv_weights.split(",") if w]
    examples = Path(__file__).resolve().parent.parent / "examples"
    curves = {}
    for content, style in PAIRS[: args.pairs]:
        rows = []
        for cfg in settings:
            snaps, losses = [], []

            def progress(p, snaps=snaps, losses=losses):
                losses.append(p.losses)
                if p.image is not None:
                    snaps.append(p.image)

            t = time.perf_counter()
            result = run(examples / content, examples / style, config=cfg, on_progress=progress)
            seconds = time.perf_counter() - t
            snaps.append(result.image)
            label = f"sw {cfg.style_weight:g} tv {cfg.tv_weight:g}"
            rows.append((label, snaps))
            curves[f"{content}+{style} {label}"] = {"seconds": seconds, "final": result.losses,
                                                     "curve": losses[:: max(1, args.every // 10)]}
            print(f"{content:14s} {style:18s} {label:20s} {seconds:6.1f} s  final {result.losses}", flush=True)
        sheet(rows, args.every, args.cell).save(out / f"sheet_{Path(content).stem}_{Path(style).stem}.jpg",
                                               quality=88)
    (out / "curves.json").write_text(json.dumps(curves, indent=1))


def sheet(rows, every: int, cell: int) -> Image.Image:
    """Rows of snapshots, each cell scaled to ``cell`` px wide, with a label strip."""
    cols = max(len(snaps) for _, snaps in rows)
    h = round(cell * rows[0][1][0].size[1] / rows[0][1][0].size[0])
    canvas = Image.new("RGB", (cell * cols, (h + 14) * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (label, snaps) in enumerate(rows):
        for c, im in enumerate(snaps):
            canvas.paste(im.resize((cell, h), Image.Resampling.LANCZOS), (c * cell, r * (h + 14) + 14))
            draw.text((c * cell + 2, r * (h + 14)), f"{label} it {(c + 1) * every}", fill="black")
    return canvas


if __name__ == "__main__":
    main()
