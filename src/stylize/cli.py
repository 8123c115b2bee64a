"""The `stylize` command: options -> StylizeConfig -> engine.run -> file.

Only this module prints. Torch is imported inside the command, so `--help` is instant.
Every expected failure is one line on stderr: exit 2 for bad input, 1 for a failed
run, 130 for Ctrl-C (the current image is saved first).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import click

from . import config as C
from .config import DEFAULTS, StylizeConfig
from .errors import Interrupted, StylizeError, one_line


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same clean stop, but exit code 143."""


class OneLineErrors(click.Command):
    """Click, but a usage error is the single line 'Error: ...' without the usage block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as e:
            click.echo(f"Error: {e.format_message()}", err=True)
            code = e.exit_code
        except (click.Abort, KeyboardInterrupt) as e:  # before a run started: imports, checks
            click.echo("Interrupted: nothing was written.", err=True)
            code = 143 if isinstance(e.__cause__ or e, Terminated) else 130  # click wraps it in Abort
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _numbers(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of numbers") from None


def _layers(ctx, param, value):
    """'relu1_1,relu2_1:0.5' -> (names, weights or None)."""
    if value is None:
        return None, None
    names, weights = [], []
    for item in value.split(","):
        name, _, weight = item.strip().partition(":")
        try:
            weights.append(float(weight) if weight else 1.0)
        except ValueError:
            raise click.BadParameter(f"'{item}': the weight after ':' is not a number") from None
        names.append(name)
    return tuple(names), (tuple(weights) if ":" in value else None)


def _layers_default(layers: dict) -> str:
    return "; ".join(f"{m}: {','.join(v)}" for m, v in layers.items() if m != "vgg16")


D = DEFAULTS


@click.command(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("content")
@click.argument("styles", nargs=-1, required=True, metavar="STYLE...")
@click.option("-o", "--output",
              help="Output file; the extension picks the format (png, jpg, webp, tif)."
                   " A folder in batch mode. [default: out.png; batch: stylized/]")
@click.option("--size", type=int, default=D.size, show_default=True, help="Long edge of the output, px.")
@click.option("--iterations", type=int, default=D.iterations, show_default=True, help="Iterations at the output size.")
@click.option("--min-size", type=int, default=D.min_size, show_default=True,
              help="Coarse-to-fine: first optimize at the output size halved down to >= this (0: one scale).")
@click.option("--coarse-iterations", type=int, default=D.coarse_iterations, show_default=True,
              help="Iterations at each coarser scale.")
@click.option("--tolerance", type=float, default=D.tolerance, show_default=True,
              help="End a scale early when the loss falls by less than this fraction over 20 iterations.")
@click.option("--precision", type=click.Choice(C.PRECISIONS), default=D.precision, show_default=True,
              help="auto: bf16 for the network where the hardware is fast at it (falls back to fp32 on NaN).")
@click.option("--content-weight", type=float, default=D.content_weight, show_default=True)
@click.option("--style-weight", type=float, default=D.style_weight, show_default=True)
@click.option("--tv-weight", type=float, default=D.tv_weight, show_default=True,
              help="Total variation: smooths high-frequency noise.")
@click.option("--style-blend", callback=_numbers, help="Weights of several styles, e.g. 0.7,0.3 [default: equal]")
@click.option("--style-scale", type=float, default=D.style_scale, show_default=True,
              help="Style image long edge relative to the output's.")
@click.option("--style-layers", callback=_layers, metavar="L[:W],...",
              help=f"Style layers, optional weights after ':' [default: {_layers_default(C.DEFAULT_STYLE_LAYERS)}]")
@click.option("--content-layer", help=f"[default: {_layers_default({k: (v,) for k, v in C.DEFAULT_CONTENT_LAYER.items()})}]")
@click.option("--model", type=click.Choice(C.MODELS), default=D.model, show_default=True)
@click.option("--weights", metavar="bundled|torchvision|random|FILE",
              help="Weight source [default: bundled for vgg19 (offline), torchvision for the others]")
@click.option("--pooling", type=click.Choice(C.POOLINGS), default=D.pooling, show_default=True)
@click.option("--init", default=D.init, show_default=True, metavar="content|noise|PATH",
              help="Starting image.")
@click.option("--optimizer", type=click.Choice(C.OPTIMIZERS), default=D.optimizer, show_default=True)
@click.option("--lr", type=float, help="Step size [default: 1.0 for lbfgs, 0.02 for adam]")
@click.option("--preserve-color", type=click.Choice(C.PRESERVE_COLORS), default=D.preserve_color,
              show_default=True, help="luminance: keep the content's colours; histogram: recolour the style first.")
@click.option("--device", default=D.device, show_default=True, metavar="auto|cpu|cuda|cuda:N|mps")
@click.option("--max-pixels", type=int, default=D.max_pixels, show_default=True,
              help="Refuse input images with more pixels than this, checked before decoding (0: no limit).")
@click.option("--force", is_flag=True, help="Run even if the memory estimate exceeds what is available.")
@click.option("--estimate", is_flag=True, help="Print the estimated peak memory of the run and exit.")
@click.option("--seed", type=int, default=D.seed, show_default=True)
@click.option("--save-every", type=int, default=D.save_every, show_default=True, metavar="N",
              help="Also save every N iterations as OUTPUT_<iteration>.ext (0: never).")
@click.option("--grid", metavar="SHEET", help="Also write a contact sheet: styles across, contents down.")
# Batch mode: CONTENT (or a STYLE) is a folder.
@click.option("--recursive", is_flag=True, help="Descend into sub-folders of CONTENT.")
@click.option("--name", "name_template", default="{content}__{style}", show_default=True,
              help="Output file name template.")
@click.option("--format", "ext", default="jpg", show_default=True, help="Output file extension.")
@click.option("--each-style", is_flag=True, help="One output per style image instead of one blend.")
@click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist alone (resume).")
@click.option("--shard", metavar="K/N", help="Do only the K-th of N equal parts of the work list.")
@click.option("--log", metavar="FILE.jsonl", help="Append one JSON line per item.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@click.version_option(package_name="stylize")
@click.pass_context
def main(ctx, content, styles, output, style_layers, quiet, grid, recursive, name_template, ext,
         each_style, skip_existing, shard, log, estimate, **options):
    """Repaint the CONTENT photo in the style of one or more STYLE paintings.

    CONTENT may be a folder: every image in it is stylized into the output folder,
    with the network and the style targets loaded once. STYLE may be a folder too.

    \b
    stylize photo.jpg painting.jpg -o out.jpg
    stylize photo.jpg a.jpg b.jpg --style-blend 0.7,0.3 -o out.png
    stylize photos/ styles/ --each-style -o stylized/ --skip-existing --grid sheet.jpg
    """
    config = StylizeConfig(style_layers=style_layers[0], style_layer_weights=style_layers[1], **options)
    batch_mode = Path(content).is_dir() or any(Path(s).is_dir() for s in styles)
    with _Signals() as signals:
        try:
            if estimate:
                return _estimate(content, len(styles), config)
            if batch_mode:
                from .batch_cli import run_batch

                code = run_batch(content, styles, output or "stylized", config, quiet=quiet, grid=grid,
                                 recursive=recursive, name=name_template, ext=ext, each_style=each_style,
                                 skip_existing=skip_existing, shard=shard, log=log, signals=signals)
                ctx.exit(code)
            _stylize(content, list(styles), output or "out.png", config, quiet, grid, signals)
        except StylizeError as e:
            click.echo(f"Error: {one_line(e)}", err=True)
            ctx.exit(e.exit_code)


def _estimate(content: str, n_styles: int, config: StylizeConfig) -> None:
    from .engine import Stylizer
    from .imageio import load_image, long_edge_dims
    from .memory import describe

    stylizer = Stylizer(config, n_styles)
    width, height = long_edge_dims(load_image(content, "content image", config.max_pixels).size, config.size)
    need, room = stylizer.memory(width, height)
    cfg = stylizer.cfg
    click.echo(f"{content}: {width}x{height} px, {cfg.model} {stylizer.precision} on {stylizer.device}:"
               f" about {describe(need)} peak ({describe(room)} available)")


class _Signals:
    """SIGTERM stops a run the way Ctrl-C does; ``code`` is the exit code for the one that came."""

    code = 130

    def __enter__(self):
        def on_term(signum, frame):
            self.code = 143
            raise Terminated

        self.previous = signal.signal(signal.SIGTERM, on_term)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self.previous)


def _stylize(content: str, styles: list[str], output: str, config: StylizeConfig, quiet: bool,
             grid: Optional[str], signals: _Signals) -> None:
    from .imageio import check_output  # torch and Pillow load here, not for --help

    check_output(output)  # before any work: a bad output path must not cost a whole run
    if grid:
        check_output(grid)
    from .engine import run

    started = time.perf_counter()
    bar = _ProgressBar(output, quiet)
    try:
        result = run(content, styles, config=config, on_progress=bar.update)
    except Interrupted as e:
        bar.close()
        _save(e.image, output, content, styles, config, interrupted_at=e.step)
        click.echo(f"Interrupted at iteration {e.step}: saved the current image to {output}", err=True)
        raise SystemExit(signals.code)
    bar.close()
    for notice in result.notices:
        click.echo(f"Note: {notice}", err=True)
    _save(result.image, output, content, styles, result.config)
    if grid:
        from .grid import save_contact_sheet

        group = tuple(map(Path, styles))
        save_contact_sheet(grid, [Path(content)], [group], {(Path(content), group): Path(output)})
    if not quiet:
        w, h = result.image.size
        cfg, losses = result.config, result.losses
        click.echo(
            f"{output}: {w}x{h} px, {result.steps} iterations in {time.perf_counter() - started:.1f} s"
            f" on {result.device} {result.precision} (seed {cfg.seed}, {cfg.model} {cfg.weights} weights);"
            f" loss: content {losses['content']:.4g}, style {losses['style']:.4g},"
            f" tv {losses['tv']:.4g}, total {losses['total']:.4g}"
        )


class _ProgressBar:
    """tqdm bar fed by the engine's callback; also writes --save-every snapshots."""

    def __init__(self, output: str, quiet: bool):
        self.output, self.quiet = Path(output), quiet
        self.bar = None  # drawn at the first iteration, so an early error prints alone

    def update(self, progress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=progress.total, disable=self.quiet, unit="it", dynamic_ncols=True,
                            file=sys.stderr, desc=self.output.name, leave=False)
        self.bar.update(progress.step - self.bar.n)
        losses = progress.losses
        self.bar.set_postfix_str(
            f"{progress.size}px total {losses['total']:.4g} content {losses['content']:.4g} style {losses['style']:.4g}",
            refresh=False,
        )
        if progress.image is not None:
            from .imageio import save_image

            out = self.output
            save_image(progress.image, out.with_name(f"{out.stem}_{progress.step:04d}{out.suffix}"))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _save(image, output, content, styles, config, interrupted_at=None) -> None:
    from . import __version__
    from .imageio import save_image

    settings = {
        "version": __version__,
        "content": str(content),
        "styles": [str(s) for s in styles],
        "config": config.resolved().to_dict(),
    }
    if interrupted_at is not None:
        settings["interrupted_at"] = interrupted_at
    save_image(image, output, text={"stylize": json.dumps(settings), "Software": f"stylize {__version__}"})
