"""One stylization: images -> network -> targets -> scales of optimizer steps -> output.

The engine never prints: it reports through ``on_progress(Progress)`` and raises
the exceptions of errors.py. The CLI draws bars and turns errors into exit codes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence, Union

import torch
from PIL import Image

from ..config import DEFAULTS, StylizeConfig, check_weights, validate
from ..errors import BadInputError, RunError, StopRun, opt
from ..media.imageio import long_edge_dims, resize_long_edge, save_image, to_image, to_tensor
from ..net.features import build_extractor
from ..net.layers import min_input_size
from ..net.weights import load_weights
from .device import resolve_device, resolve_precision
from .memory import budget, compact, describe, keep_freed_memory, release_freed_memory
from .objective import Objective, Region, style_moments, style_targets
from .optimize import PLATEAU_WINDOW, Loop, initial_image, next_start
from .plan import RunPlan, Speed, plan_run
from .progress import Progress
from .styles import ImageLike, StyleBank, load_masks, open_image, quoted
from .terms import Term


@dataclass
class Result:
    """A stylized image and how it was made; ``save`` writes it the way the CLI does."""

    image: Image.Image
    losses: Optional[dict[str, float]]  # of the image as saved (clamped, before a luminance recolouring)
    steps: int  # optimizer steps taken
    seconds: float  # optimization only
    config: StylizeConfig  # resolved: no None left, the device and precision that ran
    device: str
    precision: str = "fp32"  # what the network actually ran in
    notices: list[str] = field(default_factory=list)  # e.g. a fallback to fp32
    content: str = "(image)"  # file names, or "(image)" for in-memory images
    styles: list[str] = field(default_factory=list)
    masks: Optional[dict[str, list]] = None  # {"masks": names, "style_masks": names or None} when given
    stopped: bool = False  # an on_progress callback raised StopRun: ended early, at ``steps``
    stalled: bool = False  # the style loss barely fell: the picture may be mostly unpainted (see notices)

    def settings(self, **extra) -> dict:
        """Everything needed to make this image again, as JSON-ready values."""
        from .. import __version__

        stopped = {"stopped_at": self.steps} if self.stopped else {}
        return {"version": __version__, "content": self.content, "styles": self.styles, **(self.masks or {}),
                "config": self.config.to_dict(), "steps": self.steps, "losses": self.losses, **stopped, **extra}

    def save(self, path: Union[str, os.PathLike], **extra) -> None:
        """Write atomically with an sRGB profile; PNGs also get the settings in a ``stylize`` text chunk."""
        from .. import __version__

        text = {"stylize": json.dumps(self.settings(**extra)), "Software": f"stylize {__version__}"}
        save_image(self.image, path, text=text)


def stylize(
    content: ImageLike,
    styles: Union[ImageLike, Sequence[ImageLike]],
    *,
    config: StylizeConfig = DEFAULTS,
    on_progress: Optional[Callable[[Progress], None]] = None,
    masks: Optional[Sequence[ImageLike]] = None,
    style_masks: Optional[Sequence[Optional[ImageLike]]] = None,
) -> Image.Image:
    """Repaint ``content`` in the style of ``styles`` (paths or PIL images); returns a PIL image.

    ``masks``: one per style image, where on the content it goes (white: here, black: not;
    pixels no mask covers keep the photo). ``style_masks``: one per style image (or None),
    the part of the painting its style is taken from.
    """
    return run(content, styles, config=config, on_progress=on_progress, masks=masks, style_masks=style_masks).image


def run(
    content: ImageLike,
    styles: Union[ImageLike, Sequence[ImageLike]],
    *,
    config: StylizeConfig = DEFAULTS,
    on_progress: Optional[Callable[[Progress], None]] = None,
    masks: Optional[Sequence[ImageLike]] = None,
    style_masks: Optional[Sequence[Optional[ImageLike]]] = None,
) -> Result:
    """Like :func:`stylize`, but returns the final losses, timing and resolved config too."""
    styles = _as_list(styles)
    return Stylizer(config, len(styles)).run(content, styles, on_progress=on_progress, masks=masks,
                                             style_masks=style_masks)


def _as_list(styles) -> list:
    return [styles] if isinstance(styles, (str, os.PathLike, Image.Image)) else list(styles)


def _name(image: ImageLike) -> str:
    return "(image)" if isinstance(image, Image.Image) else os.fspath(image)


class Stylizer:
    """A validated config with its network loaded once, for stylizing many images.

    Its StyleBank caches style moments per style file and scale, so a batch pays for the
    network and each style once, not once per content image.
    """

    def __init__(self, config: StylizeConfig = DEFAULTS, n_styles: int = 1):
        cfg = validate(config, n_styles)
        self.device = resolve_device(cfg.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # no pages zeroed anew at every evaluation (memory.py): 5-14% of a 1024 px run
        self.precision = resolve_precision(cfg.precision, self.device)
        self.cfg = cfg = replace(cfg, device=str(self.device))
        self.extractor = build_extractor(
            cfg.model, load_weights(cfg.model, cfg.weights), _taps(cfg), cfg.pooling, cfg.seed, cfg.padding
        ).to(self.device)
        if self.device.type in ("cpu", "cuda"):
            # channels_last: oneDNN's and cuDNN's native layout. On the CPU it made an iteration
            # 6-9% faster (fp32 and bf16, 256 and 512 px), most of it in max-pooling (13x faster).
            self.extractor = self.extractor.to(memory_format=torch.channels_last)
        self.styles = StyleBank(self.extractor, cfg)  # the style side: moments per style file and scale

    def speed(self, masks: int = 0) -> Speed:
        """This device's time model, measured (see ``measure_speed``)."""
        return measure_speed(self.extractor, self.cfg, self.device, self.precision, masks)

    def plan(self, photo_size: tuple[int, int], masks: int = 0) -> RunPlan:
        """Every scale's plan (whole or tiled, history, peak memory) for a photo of (w, h) px."""
        return plan_run(self.cfg, photo_size, self.precision, self.device, budget(self.cfg, self.device),
                        masks=masks)

    def plan_anyway(self, photo_size: tuple[int, int], masks: int = 0) -> RunPlan:
        """The smallest plan even where it does not fit (what ``force`` would run)."""
        return plan_run(replace(self.cfg, force=True), photo_size, self.precision, self.device,
                        budget(self.cfg, self.device), masks=masks)

    def run(self, content: ImageLike, styles, on_progress=None, masks: Optional[Sequence[ImageLike]] = None,
            style_masks: Optional[Sequence[Optional[ImageLike]]] = None, warm: Optional[WarmStart] = None) -> Result:
        """Stylize one image. Ctrl-C after the first step raises Interrupted with the image so far;
        StopRun from ``on_progress`` returns it as the Result, ``stopped`` set.

        ``masks``/``style_masks``: see :func:`stylize`. ``warm``: start next to the optimum
        (see WarmStart; a video's later frames): the output size only, more terms.
        """
        cfg, styles = self.cfg, _as_list(styles)
        check_weights("style_blend", cfg.style_blend, len(styles), "style image")
        torch.manual_seed(cfg.seed)
        photo = open_image(content, "content image", cfg.max_pixels)
        width, height = long_edge_dims(photo.size, cfg.size)
        _check_min_size(cfg, (width, height), content)
        regional, own, names = load_masks(cfg, content, photo.size, styles, masks, style_masks)
        plan = self.plan(photo.size, len(regional or ()))
        scales = plan.scales if warm is None else (plan.scales[-1].with_iterations(warm.iterations),)

        def package(image: torch.Tensor, losses, loop: Loop) -> Result:
            used = replace(cfg, precision=loop.precision)
            return Result(to_image(image), losses, loop.at.steps, time.perf_counter() - loop.at.start, used,
                          str(self.device), loop.precision, list(loop.notices), _name(content),
                          list(map(_name, styles)), names, stalled=loop.stalled)

        window = PLATEAU_WINDOW if warm is None else warm.plateau_window
        loop = Loop(cfg, scales, on_progress, self.precision, (height, width), package, window,
                    expect_progress=warm is None)
        try:
            objective = None
            for scale in scales:
                objective = None  # the last scale's targets go before this scale's, 4x larger, come
                release_freed_memory()  # and the heap they leave goes back: this scale's blocks are larger
                content_t = to_tensor(resize_long_edge(photo, scale.size)).to(self.device)
                x = (initial_image(cfg, content_t) if loop.kept.iterate is None
                     else next_start(cfg, loop.kept.iterate, loop.kept.content, content_t))
                extra = []
                if warm is not None:
                    x = warm.image.to(self.device).clone()
                    extra = [term.to(self.device) for term in warm.terms]
                tile = scale.tiles.tile if scale.tiled else None
                style = self.styles.regions(styles, content_t, scale.size, tile, regional, own)
                objective = Objective(self.extractor, content_t, style, cfg, tiles=scale.tiles, extra=extra)
                loop.optimize(objective, x, content_t, scale)
            losses = loop.final_losses(objective)
            return loop.kept.result(losses, loop)
        except StopRun:
            return loop.stopped(objective)
        except torch.OutOfMemoryError:
            raise RunError(_out_of_memory(self.device, width, height, plan)) from None
        except KeyboardInterrupt:  # wherever it landed, once a step is done its image is kept
            if loop.at.steps == 0:
                raise  # the unchanged photo is no result
            raise loop.interrupted() from None

@dataclass
class WarmStart:
    """A run that starts next to its optimum (a video frame from the previous output, warped):
    from ``image`` at the output size, only that scale, ``iterations`` steps, with ``terms``
    added to the objective (the frame's TemporalTerm) and its own plateau window."""

    image: torch.Tensor  # (1, 3, H, W) at the output size, in [0, 1]
    iterations: int
    terms: Sequence[Term] = ()  # nn.Modules: moved to the run's device
    plateau_window: int = PLATEAU_WINDOW


# Sides (px) of the timed evaluations. A CPU is busy from small passes on: one timing at 512 px,
# no fixed part (a busy machine's noise on a second, small timing made one up: 1.5 s per pass).
# A GPU is not: a 256 px and a 1024 px timing give its fixed cost per pass and its cost per pixel.
CPU_SIDE, GPU_SIDES = 512, (256, 1024)


def measure_speed(extractor, cfg: StylizeConfig, device: torch.device, precision: str, masks: int = 0) -> Speed:
    """The cost of one forward + backward of the objective on ``device`` (plan.Speed), timed:
    measured, not assumed, as plan.py's time model needs.

    ``masks``: as many regional styles, each with its own statistics at every style layer
    (a two-mask run costs about a third more than one style).
    """
    def timed(side: int) -> tuple[int, float]:
        return side * side, _time_evaluation(extractor, cfg, device, precision, side, masks)

    if device.type == "cpu":
        pixels, seconds = timed(CPU_SIDE)
        return Speed(0.0, seconds / pixels)
    return Speed.fit(*map(timed, GPU_SIDES))


def _time_evaluation(extractor, cfg: StylizeConfig, device: torch.device, precision: str, side: int,
                     masks: int) -> float:
    """Seconds of one evaluation at ``side`` x ``side`` px: the faster of two, after a warm-up."""
    image = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)).to(device)
    targets = style_targets([style_moments(extractor, image, cfg)], cfg)
    if masks:  # vertical bands, one a region: the same statistics a masked run computes
        bands = torch.arange(side, device=device).div(side / masks, rounding_mode="floor")
        targets = [Region(targets, (bands == i).float().expand(side, side)) for i in range(masks)]
    objective = Objective(extractor, image, targets, cfg, bf16=precision == "bf16")
    objective.value_and_grad(image)  # warm-up: kernels chosen, memory allocated
    timings = []
    for _ in range(2):
        _sync(device)
        started = time.perf_counter()
        objective.value_and_grad(image)
        _sync(device)
        timings.append(time.perf_counter() - started)
    return min(timings)  # a busy machine slows a timing down, never speeds it up


def _out_of_memory(device: torch.device, width: int, height: int, plan: RunPlan) -> str:
    torch.cuda.empty_cache()
    lower = int(plan.peak * 0.7)
    return (f"out of memory on {device} at {width}x{height} px (the plan expected {describe(plan.peak)});"
            f" a lower {opt('max_memory')} makes the plan tile more, e.g. {opt('max_memory')} {compact(lower)}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _taps(cfg: StylizeConfig) -> list[str]:
    return list(dict.fromkeys([*cfg.style_layers, cfg.content_layer]))


def _check_min_size(cfg: StylizeConfig, size: tuple[int, int], content: ImageLike) -> None:
    need = min_input_size(cfg.model, _taps(cfg))
    if min(size) < need:
        raise BadInputError(
            f"content image {quoted(content)}: {size[0]}x{size[1]} px at {opt('size')} {cfg.size} is too thin;"
            f" {cfg.model} needs at least {need} px on the short edge for these layers"
            f" (raise {opt('size')} or crop it)"
        )
