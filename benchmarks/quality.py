"""Quality against time: each variant's run time and two distances that no run optimizes.

    python benchmarks/quality.py                              # the default variants, 256 px, 4 pairs
    python benchmarks/quality.py --size 512 --pairs 2 --variants default "x3=iterations:150,coarse_iterations:90"
    python benchmarks/quality.py --table benchmarks/out/pairs.md --table docs/benchmarks/quality-cpu.md

For every (photo, painting) pair and variant it runs the library the way the CLI does and
scores the saved image with measures that are not the objective being minimized:

- content: 1 - SSIM of the output's luminance against the photo's (no network; 0: the
  photo's structure intact);
- style: a sliced Wasserstein distance between the output's and the painting's VGG19
  features at relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1: the whole distribution of
  each feature along 64 fixed random directions, not its second moments (what the Gram
  loss matches), and relu5_1, which the default does not optimize; each layer's distance
  is divided by the spread of the painting's projections there, then the layers averaged
  (0: the painting's feature distributions exactly);
- palette: the same sliced distance on the RGB pixels (no network).

The only pretrained network offline here is the VGG19 the runs use, so the style measure
shares its network, not its statistic. Variants take StylizeConfig fields, as in
compare_styles.py ("x3=iterations:150,coarse_iterations:90"). Prints a table per pair, a
table of medians over the pairs, and writes benchmarks/out/NAME_front.png (time on the x
axis, one panel per distance), a contact sheet and a JSON record.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from _tables import Tables, add_options, machine
from compare_styles import EXAMPLES, PAIRS, add_cell, each_run, luminance, sheet, ssim, variant
from PIL import Image

from stylize import StylizeConfig, run
from stylize.media.imageio import load_image, resize_long_edge, to_tensor

# What changed, each against the default: more time, the precision, the schedule, the layers.
VARIANTS = [
    "default",
    "x2=iterations:100,coarse_iterations:60",
    "x3=iterations:150,coarse_iterations:90",
    "fp32=precision:fp32",
    "relu5_1=style_layers:relu1_1/relu2_1/relu3_1/relu4_1/relu5_1",
    "single300=min_size:0,iterations:300,precision:fp32",
]
JUDGE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DIRECTIONS = 64
QUANTILES = 256


class Judge:
    """Scores outputs against their photo and painting; nothing here is what a run minimizes."""

    def __init__(self, device: str = "auto"):
        from stylize.core.engine import Stylizer

        # The bundled VGG19 in fp32, tapped at every block's first ReLU (relu5_1 included).
        stylizer = Stylizer(StylizeConfig(style_layers=JUDGE_LAYERS, device=device, precision="fp32"))
        self.extractor, self.device = stylizer.extractor.eval(), stylizer.device
        self.directions: dict[int, torch.Tensor] = {}

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            out = self.extractor(image.to(self.device))
        return {layer: out[layer].float()[0].flatten(1) for layer in JUDGE_LAYERS}  # (C, H*W)

    def sliced(self, a: torch.Tensor, b: torch.Tensor) -> float:
        """Sliced W2 between the columns of a (C, N) and b (C, M), relative to b's spread."""
        channels = a.shape[0]
        if channels not in self.directions:  # fixed per width: every run is judged alike
            g = torch.Generator().manual_seed(channels)
            d = torch.randn(channels, DIRECTIONS, generator=g)
            self.directions[channels] = (d / d.norm(dim=0)).to(a.device)
        d = self.directions[channels]
        qa, qb = _quantiles(d.T @ a), _quantiles(d.T @ b)  # (DIRECTIONS, QUANTILES)
        return ((qa - qb).pow(2).mean().sqrt() / qb.std(dim=1).mean().clamp_min(1e-8)).item()

    def score(self, output: Image.Image, photo: Path, painting: Path, style_scale: float) -> dict[str, float]:
        out = to_tensor(output)
        picture = to_tensor(load_image(photo).resize(output.size, Image.Resampling.LANCZOS))
        art = to_tensor(resize_long_edge(load_image(painting), round(max(output.size) * style_scale)))
        fo, fa = self.features(out), self.features(art)
        style = statistics.fmean(self.sliced(fo[layer], fa[layer]) for layer in JUDGE_LAYERS)
        return {"content": 1 - ssim(luminance(out), luminance(picture)), "style": style,
                "palette": self.sliced(out[0].flatten(1).to(self.device), art[0].flatten(1).to(self.device))}


def _quantiles(projected: torch.Tensor) -> torch.Tensor:
    """(D, N) -> (D, QUANTILES): each row's sorted values read at evenly spaced levels."""
    ordered = projected.sort(dim=1).values
    at = torch.linspace(0, ordered.shape[1] - 1, QUANTILES, device=ordered.device).round().long()
    return ordered[:, at]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", default=VARIANTS)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=len(PAIRS), help="the first N pairs")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cell", type=int, default=192)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    ap.add_argument("--name", default="quality")
    ap.add_argument("--against", help="a JSON record of an earlier run (another version): its medians drawn in grey")
    add_options(ap)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = StylizeConfig(size=args.size, device=args.device)
    variants = [variant(v, base) for v in args.variants]
    judge = Judge(args.device)
    run(EXAMPLES / "chelsea.jpg", EXAMPLES / "wave.jpg", config=StylizeConfig(size=64, iterations=2, min_size=0,
                                                                              device=args.device))  # warm-up
    print(f"# {machine(args.device)}, torch {torch.__version__}, {args.size} px\n")
    tables = Tables(args, args.device)
    tables.print("| pair | variant | s | steps | content (1-SSIM) | style (sliced W) | palette | objective total |")
    tables.print("|---|---|---|---|---|---|---|---|")
    records, rows = [], []
    for content, style, name, result, seconds in each_run(variants, args.pairs):
        scores = judge.score(result.image, EXAMPLES / content, EXAMPLES / style, result.config.style_scale)
        pair = f"{Path(content).stem} x {Path(style).stem}"
        tables.print(f"| {pair} | {name} | {seconds:.1f} | {result.steps} | {scores['content']:.3f} |"
                     f" {scores['style']:.3f} | {scores['palette']:.3f} | {result.losses['total']:.4g} |", flush=True)
        records.append({"pair": pair, "variant": name, "seconds": seconds, "steps": result.steps,
                        "losses": result.losses, **scores})
        result.image.save(out / f"{args.name}_{Path(content).stem}_{Path(style).stem}_{name}.png")
        add_cell(rows, content, style, f"{name}: {seconds:.0f} s", result.image)
    summary = medians(records, [name for name, _ in variants])
    print()
    tables.print("Medians over the pairs:\n", new_table=True)
    tables.print("| variant | s | content (1-SSIM) | style (sliced W) | palette |\n|---|---|---|---|---|")
    for name, m in summary.items():
        tables.print(f"| {name} | {m['seconds']:.1f} | {m['content']:.3f} | {m['style']:.3f} | {m['palette']:.3f} |")
    tables.write()
    (out / f"{args.name}.json").write_text(json.dumps({"size": args.size, "runs": records, "medians": summary},
                                                      indent=1))
    sheet(rows, args.cell).save(out / f"{args.name}_sheet.jpg", quality=90)
    earlier = json.loads(Path(args.against).read_text())["medians"] if args.against else None
    plot_front(summary, out / f"{args.name}_front.png", args.size, earlier)
    print(f"\nfront: {out / (args.name + '_front.png')}; sheet: {out / (args.name + '_sheet.jpg')}")


def medians(records: list[dict], names: list[str]) -> dict[str, dict[str, float]]:
    keys = ("seconds", "content", "style", "palette")
    return {name: {k: statistics.median(r[k] for r in records if r["variant"] == name) for k in keys}
            for name in names}


def plot_front(summary: dict, path: Path, size: int, earlier: dict | None = None) -> None:
    """Time on x, one panel per distance (lower is better): the front is the lower-left edge.

    ``earlier``: another run's medians (an older version), drawn hollow in grey.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    for i, (key, label) in enumerate([("style", "style: sliced W to the painting"),
                                      ("content", "content: 1 - SSIM to the photo")]):
        ax = fig.add_subplot(1, 2, i + 1)
        for name, m in (earlier or {}).items():
            ax.scatter(m["seconds"], m[key], facecolors="none", edgecolors="#999999")
            ax.annotate(f"{name} (earlier)", (m["seconds"], m[key]), textcoords="offset points", xytext=(4, -10),
                        fontsize=7, color="#999999")
        for name, m in summary.items():
            ax.scatter(m["seconds"], m[key], color="#d62728" if name == "default" else "#1f77b4")
            ax.annotate(name, (m["seconds"], m[key]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xscale("log")
        # 20, 30, 50 rather than 2x10^1 (every minor tick labelled would crowd)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "235" else ""))
        ax.set_xlabel(f"seconds per {size} px run (median over the pairs)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    fig.savefig(path)


if __name__ == "__main__":
    main()
