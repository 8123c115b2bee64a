"""The `stylize` command: options -> StylizeConfig and the job's own config -> the job's CLI module.

The options and their defaults live here; what each kind of job does with them lives in
single.py, batch.py, video.py and estimate.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..config import (
    BATCH_DEFAULTS,
    DEFAULT_CONTENT_LAYER,
    DEFAULT_STYLE_LAYERS,
    DEFAULTS,
    MODELS,
    OPTIMIZERS,
    PADDINGS,
    POOLINGS,
    PRECISIONS,
    PRESERVE_COLORS,
    STYLE_LOSSES,
    BatchConfig,
    StylizeConfig,
    parse_bytes,
    validate,
)
from ..errors import BadInputError, StylizeError, cli_flag, one_line
from ..jobs.video import FLOWS, VIDEO_DEFAULTS, VideoConfig, check_video
from ..media.videoio import VIDEO_SUFFIXES, is_video
from ..watch.session import WATCH_DEFAULTS, WatchConfig
from .common import OneLineErrors, Signals
from .single import run_single


def _numbers(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of numbers") from None


def _files(ctx, param, value):
    """'a.png,b.png' -> ('a.png', 'b.png'); an empty entry (style masks: 'a.png,,c.png') -> None."""
    if value is None:
        return None
    return tuple(v.strip() or None for v in value.split(","))


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


def _bytes(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_bytes(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a size such as 6GiB, 800MiB or 1.5G") from None


def _layers_default(layers: dict) -> str:
    return "; ".join(f"{m}: {','.join(v)}" for m, v in layers.items() if m != "vgg16")


# --help in sections, by what a user is doing (docs/single-image.md's Options tables have the same ones).
HELP_GROUPS = (
    ("Output", ("output", "size", "save_every", "grid", "quiet")),
    ("Style", ("style_weight", "content_weight", "tv_weight", "style_blend", "style_scale", "preserve_color",
               "style_loss", "style_layers", "content_layer")),
    ("Regions", ("masks", "style_masks")),
    ("Optimizer", ("iterations", "min_size", "coarse_iterations", "tolerance", "optimizer", "lr", "history", "init",
                   "seed")),
    ("Network and device", ("model", "weights", "pooling", "padding", "device", "precision")),
    ("Memory", ("estimate", "max_memory", "tile", "force", "max_pixels")),
    ("Batch: CONTENT or a STYLE is a folder", ("recursive", "name", "format", "each_style", "skip_existing", "shard",
                                               "log")),
    ("Video: CONTENT is a video, or --frames", ("frames_in", "temporal_weight", "frame_iterations", "flow",
                                                "flow_weights", "keep_frames", "fps")),
    ("Watch a run", ("preview", "preview_host", "preview_port", "plot")),
)


@click.command(cls=OneLineErrors, groups=HELP_GROUPS, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("content")
@click.argument("styles", nargs=-1, required=True, metavar="STYLE...")
@click.option("-o", "--output",
              help="Output file; the extension picks the format (png, jpg, webp, tif)."
                   " A folder in batch mode. [default: out.png; batch: stylized/; video: out.mp4]")
@click.option("--size", type=int, default=DEFAULTS.size, show_default=True, help="Long edge of the output, px.")
@click.option("--iterations", type=int, default=DEFAULTS.iterations, show_default=True, help="Iterations at the output size.")
@click.option("--min-size", type=int, default=DEFAULTS.min_size, show_default=True,
              help="Coarse-to-fine: first optimize at the output size halved down to >= this (0: one scale).")
@click.option("--coarse-iterations", type=int, default=DEFAULTS.coarse_iterations, show_default=True,
              help="Iterations at each coarser scale.")
@click.option("--tolerance", type=float, default=DEFAULTS.tolerance, show_default=True,
              help="End a scale early when the loss falls by less than this fraction over 20 iterations.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=DEFAULTS.precision, show_default=True,
              help="auto: bf16 for the network where the hardware is fast at it (falls back to fp32 on NaN).")
@click.option("--history", type=int, default=DEFAULTS.history, show_default=True,
              help="L-BFGS memory: steps remembered, each costs two copies of the image.")
@click.option("--content-weight", type=float, default=DEFAULTS.content_weight, show_default=True,
              help="Weight of the content term: higher keeps more of the photo.")
@click.option("--style-weight", type=float, default=DEFAULTS.style_weight, show_default=True,
              help="Weight of the style term: higher gives more paint.")
@click.option("--tv-weight", type=float, default=DEFAULTS.tv_weight, show_default=True,
              help="Total variation: smooths high-frequency noise.")
@click.option("--style-blend", callback=_numbers, help="Weights of several styles, e.g. 0.7,0.3 [default: equal]")
@click.option("--style-loss", type=click.Choice(STYLE_LOSSES), default=DEFAULTS.style_loss, show_default=True,
              help="The style statistic: gram (Gatys et al.) or wasserstein (feature mean and covariance).")
@click.option("--masks", callback=_files, metavar="FILE,...",
              help="One mask per STYLE, in order: where its style goes (white: here, black: not, grey:"
                   " partly); pixels no mask covers keep the photo.")
@click.option("--style-masks", callback=_files, metavar="FILE,...",
              help="One mask per STYLE (empty: all of it): the part of each painting its style is taken from.")
@click.option("--style-scale", type=float, default=DEFAULTS.style_scale, show_default=True,
              help="Style image long edge relative to the output's.")
@click.option("--style-layers", callback=_layers, metavar="L[:W],...",
              help=f"Style layers, optional weights after ':' [default: {_layers_default(DEFAULT_STYLE_LAYERS)}]")
@click.option("--content-layer", help=f"The content layer [default: {_layers_default({k: (v,) for k, v in DEFAULT_CONTENT_LAYER.items()})}]")
@click.option("--model", type=click.Choice(MODELS), default=DEFAULTS.model, show_default=True,
              help="The feature extractor, pretrained on ImageNet.")
@click.option("--weights", metavar="bundled|torchvision|random|FILE",
              help="Weight source [default: bundled for vgg19 (offline), torchvision for the others]")
@click.option("--pooling", type=click.Choice(POOLINGS), default=DEFAULTS.pooling, show_default=True,
              help="avg: smoother results, as in the paper.")
@click.option("--padding", type=click.Choice(PADDINGS), default=DEFAULTS.padding, show_default=True,
              help="The first convolution's border: zeros, or replicate the edge pixels.")
@click.option("--init", default=DEFAULTS.init, show_default=True, metavar="content|noise|PATH",
              help="Starting image.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=DEFAULTS.optimizer, show_default=True,
              help="L-BFGS with a line search, or Adam.")
@click.option("--lr", type=float, help="Step size [default: 1.0 for lbfgs, 0.02 for adam]")
@click.option("--preserve-color", type=click.Choice(PRESERVE_COLORS), default=DEFAULTS.preserve_color,
              show_default=True, help="luminance: keep the content's colours; histogram: recolour the style first.")
@click.option("--device", default=DEFAULTS.device, show_default=True, metavar="auto|cpu|cuda|cuda:N|mps",
              help="Where to run; auto: an NVIDIA GPU, else Apple's MPS, else the CPU.")
@click.option("--max-pixels", type=int, default=DEFAULTS.max_pixels, show_default=True,
              help="Refuse input images with more pixels than this, checked before decoding (0: no limit).")
@click.option("--max-memory", callback=_bytes, metavar="SIZE",
              help="Memory the run may use, e.g. 6GiB; a scale that does not fit whole is optimized in tiles"
                   " [default: what is available, less 10%]")
@click.option("--tile", type=int, metavar="PX", help="Optimize in tiles of at most PX px even when the whole fits.")
@click.option("--force", is_flag=True, help="Run even if no plan fits the memory available.")
@click.option("--estimate", is_flag=True,
              help="Print the plan of each scale (whole or tiled), its peak memory and time, and exit.")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True,
              help="The same seed and settings give the same bytes on the same machine.")
@click.option("--save-every", type=int, default=DEFAULTS.save_every, show_default=True, metavar="N",
              help="Also save every N iterations as OUTPUT_<iteration>.ext (0: never).")
@click.option("--grid", metavar="SHEET", help="Also write a contact sheet: styles across, contents down.")
# Batch mode: CONTENT (or a STYLE) is a folder.
@click.option("--recursive", is_flag=True, help="Descend into sub-folders of CONTENT.")
@click.option("--name", default=BATCH_DEFAULTS.name, show_default=True,
              help="Output file name template: {content}, {style}, {ext}.")
@click.option("--format", default=BATCH_DEFAULTS.format, show_default=True, help="Output file extension.")
@click.option("--each-style", is_flag=True, help="One output per style image instead of one blend.")
@click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist alone (resume).")
@click.option("--shard", metavar="K/N|auto|auto/N",
              help="Do only the K-th of N equal parts of the work list; auto: K (and N) from a Slurm"
                   " job array or a Kubernetes Indexed Job.")
@click.option("--log", metavar="FILE.jsonl", help="Append one JSON line per item.")
@click.option("--temporal-weight", type=float, default=VIDEO_DEFAULTS.temporal_weight, show_default=True,
              help="Video: pull of each frame towards the previous output, warped (0: frames on their own).")
@click.option("--frame-iterations", type=int, default=VIDEO_DEFAULTS.frame_iterations, show_default=True,
              help="Video: iterations for each frame after the first.")
@click.option("--flow", type=click.Choice(FLOWS), default=VIDEO_DEFAULTS.flow, show_default=True,
              help="Video: optical flow, OpenCV's DIS (no weights) or torchvision's RAFT.")
@click.option("--flow-weights", metavar="FILE", help="Video: RAFT's state_dict file [default: torch's cache]")
@click.option("--keep-frames", is_flag=True, help="Video: keep the work folder of frames (OUTPUT.frames/).")
@click.option("--frames", "frames_in", is_flag=True,
              help="CONTENT is a folder of numbered frames of one clip, not a batch of photos.")
@click.option("--fps", type=float, default=VIDEO_DEFAULTS.fps, show_default=True,
              help="Video: the frame rate of a folder of frames written as a video.")
@click.option("--preview", is_flag=True,
              help="Serve a live page of the run (image, losses, ETA, a stop button); its URL is printed.")
@click.option("--preview-host", default=WATCH_DEFAULTS.preview_host, show_default=True, metavar="HOST",
              help="Where the page listens (the default: this machine only); given, implies --preview.")
@click.option("--preview-port", type=click.IntRange(0, 65535), default=WATCH_DEFAULTS.preview_port, show_default=True,
              metavar="PORT", help="The page's port (0: a free one); given, implies --preview.")
@click.option("--plot", metavar="FILE.png",
              help="At the end (also when stopped), write the loss curves over the iterations (.png, .svg, .pdf).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@click.version_option(package_name="stylize")
@click.option("--doctor", is_flag=True, is_eager=True, expose_value=False, callback=lambda ctx, _, on: _doctor(ctx, on),
              help="Print versions, CPU, devices, memory and weights found on this machine (for a bug report); exit.")
@click.pass_context
def main(ctx, content, styles, output, style_layers, masks, style_masks, quiet, grid, log, estimate, recursive, name,
         format, each_style, skip_existing, shard, temporal_weight, frame_iterations, flow, flow_weights, keep_frames,
         frames_in, fps, preview, preview_host, preview_port, plot, **options):
    """Repaint the CONTENT photo in the style of one or more STYLE paintings.

    CONTENT may be a folder: every image in it is stylized into the output folder,
    with the network and the style targets loaded once. STYLE may be a folder too.
    CONTENT may be a video: the output is a video, frame by frame, without flicker.

    \b
    stylize photo.jpg painting.jpg -o out.jpg
    stylize photo.jpg a.jpg b.jpg --style-blend 0.7,0.3 -o out.png
    stylize photos/ styles/ --each-style -o stylized/ --skip-existing --grid sheet.jpg
    stylize clip.mp4 painting.jpg -o clip_painted.mp4
    """
    config = StylizeConfig(style_layers=style_layers[0], style_layer_weights=style_layers[1], **options)
    batch_config = BatchConfig(name=name, format=format, each_style=each_style, recursive=recursive,
                               skip_existing=skip_existing, shard=shard)
    video = VideoConfig(temporal_weight=temporal_weight, frame_iterations=frame_iterations, flow=flow,
                        keep_frames=keep_frames, fps=fps, flow_weights=flow_weights)
    given = {name for name in ("preview_host", "preview_port")
             if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE}
    watch = WatchConfig(preview=preview or bool(given), preview_host=preview_host, preview_port=preview_port,
                        plot=plot)
    with Signals() as signals:
        try:
            validate(config, len(styles))  # no torch yet: a bad option fails at once
            check_video(video)
            kind = job_kind(content, styles, frames_in)
            if estimate:
                from .estimate import print_estimate

                return print_estimate(content, list(styles), config, batch_config if kind == "folder" else None,
                                      len(masks or ()), video if kind in ("video", "frames") else None)
            if kind in ("video", "frames"):
                from .video import run_video

                return run_video(content, list(styles), output or "out.mp4", config, video, quiet, signals, masks,
                                 style_masks, watch)
            if kind == "folder":
                from .batch import run_batch

                ctx.exit(run_batch(content, list(styles), output or "stylized", config, batch_config,
                                   quiet=quiet, grid=grid, log=log, signals=signals, masks=masks,
                                   style_masks=style_masks, watch=watch))
            run_single(content, list(styles), output or "out.png", config, quiet, grid, signals, masks, style_masks,
                       watch)
        except StylizeError as e:
            click.echo(f"Error: {one_line(e, cli_flag)}", err=True)
            ctx.exit(e.exit_code)


def job_kind(content: str, styles, frames: bool) -> str:
    """What CONTENT and STYLE ask for, decided once: "frames" (``--frames``: a folder of one
    clip's frames), "folder" (CONTENT or a STYLE is a folder: a batch), "video" (a video file,
    by its content or, when it cannot be read, its name) or "image"."""
    if frames:
        if not Path(content).is_dir():
            raise BadInputError(f"'{content}' is not a folder of frames", "frames")
        return "frames"
    if Path(content).is_dir() or any(Path(s).is_dir() for s in styles):
        return "folder"
    if is_video(content) or Path(content).suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    return "image"


def _doctor(ctx: click.Context, on: bool) -> None:
    if not on or ctx.resilient_parsing:
        return
    from .doctor import report

    click.echo("\n".join(report()))
    ctx.exit(0)
