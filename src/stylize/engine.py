"""One stylization: images -> targets -> initial image -> optimizer steps -> output.

The engine never prints: it reports through ``on_progress(Progress)`` and raises
the exceptions of errors.py. The CLI draws bars and turns errors into exit codes.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import torch
from PIL import Image
from torch import nn

from . import config as C
from .color import match_color, transfer_luminance
from .config import DEFAULTS, StylizeConfig
from .errors import BadInputError, Interrupted, RunError
from .features import build_extractor, check_layers, min_input_size
from .imageio import load_image, resize_long_edge, to_image, to_tensor
from .losses import ContentLoss, StyleLoss, blend_grams, gram_matrix, total_variation
from .weights import load_weights

ImageLike = Union[str, os.PathLike, Image.Image]


@dataclass
class Progress:
    """What ``on_progress`` receives after every iteration."""

    step: int
    total: int
    losses: dict[str, float]  # weighted terms: content, style, tv, total
    elapsed: float  # seconds since the optimization started
    image: Optional[Image.Image] = None  # the current image, every ``save_every`` steps


@dataclass
class Result:
    image: Image.Image
    losses: dict[str, float]  # of the final (clamped) image
    steps: int
    seconds: float  # optimization only
    config: StylizeConfig  # resolved: no None left
    device: str


def stylize(
    content: ImageLike,
    styles: Union[ImageLike, Sequence[ImageLike]],
    *,
    config: StylizeConfig = DEFAULTS,
    on_progress: Optional[Callable[[Progress], None]] = None,
) -> Image.Image:
    """Repaint ``content`` in the style of ``styles`` (paths or PIL images); returns a PIL image."""
    return run(content, styles, config=config, on_progress=on_progress).image


def run(
    content: ImageLike,
    styles: Union[ImageLike, Sequence[ImageLike]],
    *,
    config: StylizeConfig = DEFAULTS,
    on_progress: Optional[Callable[[Progress], None]] = None,
) -> Result:
    """Like :func:`stylize`, but returns the final losses, timing and resolved config too."""
    if isinstance(styles, (str, os.PathLike, Image.Image)):
        styles = [styles]
    cfg = validate(config, len(styles))
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    content_img = resize_long_edge(_open(content, "content image"), cfg.size)
    _check_min_size(cfg, content_img)
    content_t = to_tensor(content_img).to(device)
    style_ts = [_style_tensor(_open(s, "style image"), cfg, content_t) for s in styles]
    extractor = build_extractor(
        cfg.model, load_weights(cfg.model, cfg.weights), _taps(cfg), cfg.pooling, cfg.seed
    ).to(device)
    objective = Objective(extractor, content_t, style_ts, cfg)
    x = initial_image(cfg, content_t).requires_grad_(True)
    start = time.perf_counter()
    steps = _optimize(objective, x, cfg, content_t, on_progress, start)
    final = finalize(x, cfg, content_t)
    with torch.no_grad():
        losses = {k: v.item() for k, v in objective(final).items()}
    return Result(to_image(final), losses, steps, time.perf_counter() - start, cfg, str(device))


def _open(image: ImageLike, what: str) -> Image.Image:
    return image.convert("RGB") if isinstance(image, Image.Image) else load_image(image, what)


def _taps(cfg: StylizeConfig) -> list[str]:
    return list(dict.fromkeys([*cfg.style_layers, cfg.content_layer]))


def _style_tensor(style: Image.Image, cfg: StylizeConfig, content_t: torch.Tensor) -> torch.Tensor:
    style_t = to_tensor(resize_long_edge(style, round(cfg.size * cfg.style_scale)))
    style_t = style_t.to(content_t.device)
    if cfg.preserve_color == "histogram":
        style_t = match_color(style_t, content_t)
    return style_t


def _check_min_size(cfg: StylizeConfig, content: Image.Image) -> None:
    need = min_input_size(cfg.model, _taps(cfg))
    if min(content.size) < need:
        raise BadInputError(
            f"content image: {content.size[0]}x{content.size[1]} px at --size {cfg.size} is too small;"
            f" {cfg.model} needs at least {need} px on the short edge for these layers"
        )


# ---------------------------------------------------------------- validation


def validate(config: StylizeConfig, n_styles: int) -> StylizeConfig:
    """Check every setting; returns the resolved config or raises BadInputError."""
    for name, value, choices in (
        ("--model", config.model, C.MODELS),
        ("--pooling", config.pooling, C.POOLINGS),
        ("--optimizer", config.optimizer, C.OPTIMIZERS),
        ("--preserve-color", config.preserve_color, C.PRESERVE_COLORS),
    ):
        if value not in choices:
            raise BadInputError(f"{name}: '{value}' is not one of {', '.join(choices)}")
    cfg = config.resolved()
    _in_range("--size", cfg.size, *C.SIZE_RANGE)
    _in_range("--iterations", cfg.iterations, *C.ITERATIONS_RANGE)
    _in_range("--style-scale", round(cfg.size * cfg.style_scale), *C.SIZE_RANGE, shown=cfg.style_scale)
    for name in ("content_weight", "style_weight", "tv_weight", "save_every"):
        if getattr(cfg, name) < 0:
            raise BadInputError(f"--{name.replace('_', '-')}: must be >= 0 (got {getattr(cfg, name)})")
    if not cfg.lr > 0:
        raise BadInputError(f"--lr: must be > 0 (got {cfg.lr})")
    if n_styles < 1:
        raise BadInputError("no style image given")
    _check_weights("--style-blend", cfg.style_blend, n_styles, "style images")
    _check_weights("--style-layers", cfg.style_layer_weights, len(cfg.style_layers), "style layers")
    check_layers(cfg.model, list(cfg.style_layers), "--style-layers")
    check_layers(cfg.model, [cfg.content_layer], "--content-layer")
    return cfg


def _in_range(name: str, value, low, high, shown=None) -> None:
    if not low <= value <= high:
        raise BadInputError(f"{name}: {shown if shown is not None else value} is out of range ({low} to {high})"
                            + (f"; it gives a {value} px style image" if shown is not None else ""))


def _check_weights(name: str, weights, count: int, what: str) -> None:
    if weights is None:
        return
    if len(weights) != count:
        raise BadInputError(f"{name}: {len(weights)} weights given for {count} {what}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise BadInputError(f"{name}: weights must be >= 0 with a positive sum (got {list(weights)})")


def resolve_device(spec: str) -> torch.device:
    """auto | cpu | cuda | cuda:N | mps -> a device that exists, or BadInputError."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise BadInputError("--device mps: Apple MPS is not available on this machine; use --device cpu")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise BadInputError(f"--device: '{spec}' is not one of auto, cpu, cuda, cuda:N, mps")
    if not torch.cuda.is_available():
        raise BadInputError(f"--device {spec}: CUDA is not available on this machine; use --device cpu")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise BadInputError(f"--device {spec}: there are only {torch.cuda.device_count()} CUDA devices")
    torch.backends.cudnn.benchmark = True  # fixed input size for the whole run: autotune once
    return torch.device("cuda", index)


# ---------------------------------------------------------------- objective


class Objective(nn.Module):
    """image -> weighted loss terms. Targets are computed once here, without autograd."""

    def __init__(self, extractor: nn.Module, content: torch.Tensor, styles: list[torch.Tensor], cfg):
        super().__init__()
        self.extractor, self.cfg = extractor, cfg
        with torch.no_grad():
            self.content = ContentLoss(extractor(content)[cfg.content_layer])
            grams = [{k: gram_matrix(v) for k, v in extractor(s).items()} for s in styles]
        blend = list(cfg.style_blend or [1.0] * len(styles))
        self.styles = nn.ModuleDict(
            {l: StyleLoss(blend_grams([g[l] for g in grams], blend)) for l in cfg.style_layers}
        )
        layer_weights = cfg.style_layer_weights or [1.0] * len(cfg.style_layers)
        self.layer_weights = [w / sum(layer_weights) for w in layer_weights]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.extractor(image)
        cfg = self.cfg
        content = cfg.content_weight * self.content(features[cfg.content_layer])
        style = cfg.style_weight * sum(
            w * loss(features[layer]) for w, (layer, loss) in zip(self.layer_weights, self.styles.items())
        )
        tv = cfg.tv_weight * total_variation(image)
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}


# ---------------------------------------------------------------- optimization


def initial_image(cfg: StylizeConfig, content: torch.Tensor) -> torch.Tensor:
    if cfg.init == "content":
        return content.clone()
    if cfg.init == "noise":
        generator = torch.Generator().manual_seed(cfg.seed)
        noise = torch.randn(content.shape, generator=generator)
        return (0.5 + 0.1 * noise).to(content.device)
    image = load_image(cfg.init, "--init image").resize(
        (content.shape[3], content.shape[2]), Image.Resampling.LANCZOS
    )
    return to_tensor(image).to(content.device)


LINE_SEARCH_EVALS = 20


def make_optimizer(x: torch.Tensor, cfg: StylizeConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam([x], lr=cfg.lr)
    # One L-BFGS iteration per step() so progress can be reported; the history persists.
    # Without a line search L-BFGS diverges on these losses; strong Wolfe keeps it stable.
    # max_eval must be set: its default (max_iter * 5 // 4 = 1) leaves the line search
    # no evaluations to back off with, and the run silently stalls.
    return torch.optim.LBFGS(
        [x], lr=cfg.lr, max_iter=1, max_eval=1 + LINE_SEARCH_EVALS, history_size=100,
        line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0,
    )


class _Evaluator:
    """The closure handed to the optimizer, remembering its last point.

    torch's L-BFGS re-evaluates the objective at the start of every step() at the
    point its line search just accepted, which is usually the last point evaluated:
    the cache makes that a lookup instead of a second forward and backward pass.
    """

    def __init__(self, objective: nn.Module, x: torch.Tensor):
        self.objective, self.x = objective, x
        self.point = self.grad = self.losses = None

    def __call__(self) -> torch.Tensor:
        if self.point is not None and torch.equal(self.point, self.x.detach()):
            self.x.grad = self.grad.clone()
            return self.losses["total"]
        self.x.grad = None
        losses = self.objective(self.x)
        losses["total"].backward()
        self.point = self.x.detach().clone()
        self.grad = self.x.grad.detach().clone()
        self.losses = {k: v.detach() for k, v in losses.items()}
        return self.losses["total"]

    def losses_at_x(self) -> dict[str, float]:
        """The loss terms at the current x (evaluated once if the cache does not hold it)."""
        self()
        return {k: v.item() for k, v in self.losses.items()}


def _optimize(objective, x, cfg, content_t, on_progress, start) -> int:
    """Run the steps; returns how many finished. Ctrl-C raises Interrupted with the last iterate."""
    optimizer = make_optimizer(x, cfg)
    evaluate = _Evaluator(objective, x)
    good = x.detach().clone()
    for step in range(1, cfg.iterations + 1):
        try:
            optimizer.step(evaluate)
            if cfg.optimizer == "adam":
                with torch.no_grad():
                    x.clamp_(0, 1)  # Adam takes small steps: keep it inside the box
            losses = evaluate.losses_at_x()
        except KeyboardInterrupt:
            raise Interrupted(to_image(finalize(good, cfg, content_t)), step - 1) from None
        if not all(map(_finite, losses.values())) or not torch.isfinite(x).all():
            raise RunError(f"the loss became NaN/inf at iteration {step}; try --optimizer lbfgs or a lower --lr")
        good.copy_(x.detach())
        if on_progress is not None:
            snapshot = cfg.save_every and step % cfg.save_every == 0 and step < cfg.iterations
            image = to_image(finalize(good, cfg, content_t)) if snapshot else None
            on_progress(Progress(step, cfg.iterations, losses, time.perf_counter() - start, image))
    return cfg.iterations


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def finalize(x: torch.Tensor, cfg: StylizeConfig, content: torch.Tensor) -> torch.Tensor:
    """The iterate as an image: clamped to [0, 1], colours restored if asked."""
    image = x.detach().clamp(0, 1)
    if cfg.preserve_color == "luminance":
        image = transfer_luminance(image, content)
    return image
