"""Contact sheets to compare settings side by side: style statistic, padding, style weight.

Each example pair (photo x painting) is stylized with every variant by the default
command's code path; the sheet has one row per pair and one column per variant, each cell
the final image, labelled with its time. A table gives, per run, the time, the final
losses and how much of the photo survives, measured without the project's network: the
SSIM of the output's luminance against the photo's (1: the photo's structure intact).

    python benchmarks/compare_styles.py                                  # gram against wasserstein
    python benchmarks/compare_styles.py --variants "gram" "replicate=padding:replicate"
    python benchmarks/compare_styles.py --variants "sw30=style_weight:30" "sw10=style_weight:10" --size 256
    python benchmarks/compare_styles.py --table docs/benchmarks/NAME.md    # the table also to a docs file

A variant is NAME or NAME=key:value,key:value with StylizeConfig fields (a bare name that
is a --style-loss choice sets that; tuples with /: style_layers:relu1_1/relu2_1).
The variant "classic" is jcjohnson/neural-style's balance (content weight 5, style weight
100 on Gram / (C*H*W), TV 1e-3, on Caffe VGG19 activations) turned into this project's
relative weights for each pair: see classic(). Sheets and a JSON record go to
benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from _process import EXAMPLES
from _tables import Tables, add_options
from PIL import Image, ImageDraw

from stylize import StylizeConfig, run
from stylize.config import STYLE_LOSSES
from stylize.media.imageio import load_image, to_tensor

# A portrait, an animal and an object, each with the painting the gallery gives it.
PAIRS = [("astronaut.jpg", "the_scream.jpg"), ("chelsea.jpg", "starry_night.jpg"), ("coffee.jpg", "wave.jpg"),
         ("chelsea.jpg", "shipwreck.jpg")]


def variant(text: str, base: StylizeConfig):
    """'w2=style_loss:wasserstein,style_weight:10' -> ('w2', config for a (photo, painting) pair)."""
    name, _, spec = text.partition("=")
    if name == "classic":
        return name, lambda content, style: classic(content, style, base)
    if not spec:
        cfg = replace(base, style_loss=name) if name in STYLE_LOSSES else base
        return name, lambda content, style: cfg
    types = {f.name: str(f.type) for f in fields(StylizeConfig)}
    changes = {}
    for item in spec.split(","):
        key, _, value = item.partition(":")
        kind = types[key]
        cast = float if "float" in kind else int if "int" in kind else str
        changes[key] = tuple(cast(v) for v in value.split("/")) if "tuple" in kind else cast(value)
    cfg = replace(base, **changes)
    return name, lambda content, style: cfg


def classic(content: Path, style: Path, base: StylizeConfig) -> StylizeConfig:
    """neural-style's default balance, as this project's relative weights for this pair.

    neural-style minimises 5 * mean((F - P)^2) at relu4_2, plus per style layer
    100 * mean((G - A)^2) with G, A the Gram matrices / (C*H*W), plus TV 1e-3 / 2 * the sum
    of squared neighbour differences of the 0..255 image. This project's terms are the same
    errors divided by the target's mean square (and TV a mean over [0, 1] pixels), so each
    classic weight is the relative weight times that target's scale, measured here at the
    output size with the same Caffe VGG19. Divided through by the content weight (the scale
    of the whole objective does not change L-BFGS's path).
    """
    from stylize.core.engine import Stylizer
    from stylize.media.imageio import resize_long_edge

    stylizer = Stylizer(base)
    extractor, layers = stylizer.extractor, stylizer.cfg.style_layers
    photo = to_tensor(resize_long_edge(load_image(content), base.size))
    painting = to_tensor(resize_long_edge(load_image(style), round(base.size * base.style_scale)))
    with torch.no_grad():
        p, a = extractor(photo), extractor(painting)
    content_w = 5 * p[stylizer.cfg.content_layer].float().pow(2).mean().item()
    style_w = []
    for layer in layers:
        f = a[layer].float().flatten(2)[0]  # (C, H*W)
        srm = f @ f.T / f.shape[1]
        style_w.append(100 * srm.pow(2).mean().item() / f.shape[0] ** 2)  # G/(CHW) = srm / C
    tv_w = 1e-3 / 2 * 255**2 * photo[0].numel()
    return replace(base, content_weight=1.0, style_weight=sum(style_w) / content_w,
                   style_layer_weights=tuple(w / sum(style_w) for w in style_w), tv_weight=tv_w / content_w)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of two luminance images (1, 1, H, W) in [0, 1], 11 px Gaussian window (Wang et al. 2004)."""
    x = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-x**2 / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    mean = lambda t: F.conv2d(t, window)  # noqa: E731
    ma, mb = mean(a), mean(b)
    va, vb, cov = mean(a * a) - ma**2, mean(b * b) - mb**2, mean(a * b) - ma * mb
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return s.mean().item()


def luminance(t: torch.Tensor) -> torch.Tensor:
    return (0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]).unsqueeze(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", default=["gram", "wasserstein"])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=len(PAIRS), help="the first N pairs")
    ap.add_argument("--cell", type=int, default=256)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    ap.add_argument("--name", default="compare")
    add_options(ap)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = StylizeConfig(size=args.size, device=args.device)
    variants = [variant(v, base) for v in args.variants]
    rows, records = [], []
    tables = Tables(args, args.device)
    tables.print("| pair | variant | s | content | style | total | SSIM to the photo |\n|---|---|---|---|---|---|---|")
    for content, style, name, result, seconds in each_run(variants, args.pairs):
        photo = to_tensor(load_image(EXAMPLES / content).resize(result.image.size, Image.Resampling.LANCZOS))
        kept = ssim(luminance(to_tensor(result.image)), luminance(photo))
        pair, losses = f"{Path(content).stem} x {Path(style).stem}", result.losses
        tables.print(f"| {pair} | {name} | {seconds:.1f} | {losses['content']:.3g} | {losses['style']:.3g} |"
                     f" {losses['total']:.3g} | {kept:.3f} |", flush=True)
        records.append({"pair": pair, "variant": name, "seconds": seconds, "losses": losses, "ssim": kept})
        result.image.save(out / f"{args.name}_{Path(content).stem}_{Path(style).stem}_{name}.png")
        add_cell(rows, content, style, f"{name}: {seconds:.0f} s, SSIM {kept:.2f}", result.image)
    sheet(rows, args.cell).save(out / f"{args.name}_sheet.jpg", quality=90)
    (out / f"{args.name}.json").write_text(json.dumps(records, indent=1))
    tables.write()
    print(f"\nsheet: {out / (args.name + '_sheet.jpg')}")


def each_run(variants, pairs: int):
    """(photo, painting, variant name, Result, wall seconds) of every variant on the first ``pairs`` pairs."""
    for content, style in PAIRS[:pairs]:
        for name, config_for in variants:
            cfg = config_for(EXAMPLES / content, EXAMPLES / style)
            started = time.perf_counter()
            result = run(EXAMPLES / content, EXAMPLES / style, config=cfg)
            yield content, style, name, result, time.perf_counter() - started


def add_cell(rows: list, content: str, style: str, label: str, image: Image.Image) -> None:
    """Add a labelled image to the sheet's row of this pair (a new row for a new pair)."""
    pair = f"{content} x {style}"
    if not rows or rows[-1][0] != pair:
        rows.append((pair, []))
    rows[-1][1].append((label, image))


def sheet(rows, cell: int) -> Image.Image:
    """One row per pair, one column per variant, each cell ``cell`` px wide under a label."""
    h = max(round(cell * im.height / im.width) for _, cells in rows for _, im in cells)
    canvas = Image.new("RGB", (cell * len(rows[0][1]), (h + 14) * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (pair, cells) in enumerate(rows):
        for c, (label, im) in enumerate(cells):
            scaled = im.resize((cell, round(cell * im.height / im.width)), Image.Resampling.LANCZOS)
            canvas.paste(scaled, (c * cell, r * (h + 14) + 14))
            draw.text((c * cell + 2, r * (h + 14) + 1), label if c else f"{pair} | {label}", fill="black")
    return canvas


if __name__ == "__main__":
    main()
