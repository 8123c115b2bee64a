"""The optimizer loop: starting image, L-BFGS (or Adam) steps, progress, faults, scales."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from PIL import Image
from torch import nn

from ..config import StylizeConfig
from ..errors import Interrupted, Message, RunError, StopRun, opt
from ..media.imageio import load_image, to_image, to_tensor
from .color import transfer_luminance


@dataclass
class Progress:
    """What ``on_progress`` receives after every iteration, and once more when the run is done."""

    step: int  # position in the whole schedule, over all scales
    total: int
    losses: dict[str, float]  # weighted terms: content, style, tv, total (+ the range penalty, objective.py)
    elapsed: float  # seconds since the optimization started
    snapshot: Optional[Any] = None  # an engine.Result of the current image, every ``save_every`` steps
    size: int = 0  # long edge of the scale being optimized
    done: bool = False  # the last report: ``losses`` are the final ones, as the Result has them
    eta: Optional[float] = None  # seconds left, from the time the work so far took (None: too early)
    tile: Optional[tuple[int, int]] = None  # (done, total) crops of a tiled evaluation in progress:
    #   a report inside an iteration, ``step`` and ``losses`` are still the last iteration's
    scale: tuple[int, int] = (1, 1)  # (this scale, scales) counted from the coarsest
    # The image so far at this scale's size, made when called (a copy off the device and a
    # conversion: a live preview calls it about once a second, not every step). Only on
    # iteration reports; call it inside the callback, the iterate changes after it returns.
    current: Optional[Callable[[], Image.Image]] = None

    @property
    def image(self) -> Optional[Image.Image]:
        return self.snapshot.image if self.snapshot is not None else None


def initial_image(cfg: StylizeConfig, content: torch.Tensor) -> torch.Tensor:
    if cfg.init == "content":
        return content.clone()
    if cfg.init == "noise":
        generator = torch.Generator().manual_seed(cfg.seed)
        noise = torch.randn(content.shape, generator=generator)
        return (0.5 + 0.1 * noise).to(content.device)
    image = load_image(cfg.init, f"{opt('init')} image", cfg.max_pixels).resize(
        (content.shape[3], content.shape[2]), Image.Resampling.LANCZOS
    )
    return to_tensor(image).to(content.device)


def upsample(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` at ``like``'s size (bicubic), clamped to [0, 1]."""
    return _resized(x, like).clamp_(0, 1).contiguous()


def next_start(cfg: StylizeConfig, previous: torch.Tensor, previous_content: torch.Tensor,
               content: torch.Tensor) -> torch.Tensor:
    """Where a finer scale starts: the photo at this size plus what the coarser scale changed.

    Upsampling the coarser result alone starts from a blurred picture, and 50 iterations did
    not bring the photo's fine detail back: the default ended 12% further from the photo
    (1 - SSIM, benchmarks/quality.py) than one long run at full size. Adding the change
    (result - photo at the coarser size) to the sharp photo keeps that detail for the same
    time and the same style. With another ``init`` the run did not start from the photo, so
    the result itself is upsampled.
    """
    if cfg.init != "content":
        return upsample(previous, content)
    change = previous.detach().clamp(0, 1) - previous_content
    return (content + _resized(change, content)).clamp_(0, 1).contiguous()


def _resized(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return nn.functional.interpolate(x.detach(), size=like.shape[-2:], mode="bicubic", align_corners=False)


LINE_SEARCH_EVALS = 20
PLATEAU_WINDOW = 20  # iterations over which a scale's loss must fall by the tolerance
# A run whose style term ends above this fraction of where it started has stalled: the four
# example pairs end at 0.7-2.9% of their start (256 px), the unpainted red picture of issue 20
# ended at 99.8%.
STALL_FRACTION = 0.5
MAX_RETRIES = 3  # restarts after a NaN/inf loss before the run is given up


def make_optimizer(x: torch.Tensor, cfg: StylizeConfig, lr: float, history: Optional[int] = None) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam([x], lr=lr)
    # One L-BFGS iteration per step() so progress can be reported; the history persists.
    # Without a line search L-BFGS diverges on these losses; strong Wolfe keeps it stable.
    # max_eval must be set: its default (max_iter * 5 // 4 = 1) leaves the line search
    # no evaluations to back off with, and the run silently stalls.
    return torch.optim.LBFGS(
        [x], lr=lr, max_iter=1, max_eval=1 + LINE_SEARCH_EVALS, history_size=history or cfg.history,
        line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0,
    )


class _Evaluator:
    """The closure handed to the optimizer, remembering its last point.

    torch's L-BFGS re-evaluates the objective at the start of every step() at the
    point its line search just accepted, which is usually the last point evaluated:
    the cache makes that a lookup instead of a second forward and backward pass.
    """

    def __init__(self, objective: nn.Module, x: torch.Tensor, on_tile=None):
        self.objective, self.x, self.on_tile = objective, x, on_tile
        self.point = self.grad = self.losses = None

    def __call__(self) -> torch.Tensor:
        if self.point is not None and torch.equal(self.point, self.x.detach()):
            self.x.grad = self.grad.clone()
            return self.losses["total"]
        self.losses, grad = self.objective.value_and_grad(self.x, self.on_tile)
        self.point = self.x.detach().clone()
        self.grad = grad
        self.x.grad = grad.clone()
        return self.losses["total"]

    def losses_at_x(self) -> dict[str, float]:
        """The loss terms at the current x (evaluated once if the cache does not hold it)."""
        self()
        values = torch.stack(list(self.losses.values())).tolist()  # one device sync, not four
        return dict(zip(self.losses, values))


class Loop:
    """Runs the optimizer scale after scale (plan.py's ScalePlans), counting iterations across them.

    ``package(image, losses, loop)`` turns an image tensor into the engine's Result: the
    loop hands those out as snapshots and with Ctrl-C. What can go wrong in a step (a
    non-finite loss: _Faults) and what a run that barely moved means (_Stall) live apart.
    """

    def __init__(self, cfg: StylizeConfig, scales, on_progress, precision: str, final_hw: tuple[int, int],
                 package: Callable, plateau_window: int = PLATEAU_WINDOW, expect_progress: bool = True):
        """``plateau_window``: iterations over which the loss must fall by ``cfg.tolerance``.

        ``expect_progress``: the run starts far from a painting (not a warm start next to its
        optimum), so a style term that barely fell means it stalled, not that it is done.
        """
        self.cfg, self.scales, self.on_progress = cfg, list(scales), on_progress
        self.plateau_window = plateau_window
        self.faults = _Faults(cfg, precision)
        self.stall = _Stall(expect_progress)
        self.total = sum(s.iterations for s in self.scales)
        self.final_hw, self.package = final_hw, package
        self.index = 0  # of the scale being optimized, in self.scales
        self.position = 0  # iterations of the schedule behind us (plateau skips count as done)
        self.steps = 0  # optimizer steps actually taken
        self.curvature = None  # L-BFGS's H_diag at the end of the last scale
        self.good = self.good_content = None  # the last finite iterate, saved on Ctrl-C
        self.last_losses: Optional[dict[str, float]] = None
        self.start = time.perf_counter()

    @property
    def precision(self) -> str:
        return self.faults.precision  # bf16 falls back to fp32 after a fault

    @property
    def notices(self) -> list:
        return self.faults.notices + self.stall.notices

    @property
    def stalled(self) -> bool:
        return self.stall.stalled

    def optimize(self, objective, x: torch.Tensor, content_t: torch.Tensor, scale) -> torch.Tensor:
        """``scale.iterations`` steps from ``x`` (or fewer on a plateau); returns the last finite iterate."""
        self.index = self.scales.index(scale)
        objective.bf16 = self.precision == "bf16"
        x = x.detach().clone().requires_grad_(True)
        on_tile = (lambda done, total: self._tile(done, total, scale.size)) if scale.tiled else None
        evaluate = _Evaluator(objective, x, on_tile)
        optimizer = make_optimizer(x, self.cfg, self._first_lr(evaluate), scale.history)
        self.stall.begin(evaluate)
        good = x.detach().clone()
        self.good, self.good_content = good, content_t
        plateau = _Plateau(self.cfg.tolerance, self.plateau_window)
        end = self.position + scale.iterations
        while self.position < end:
            optimizer.step(evaluate)
            losses = evaluate.losses_at_x()
            if not all(map(_finite, losses.values())) or not torch.isfinite(x).all():
                with torch.no_grad():
                    x.copy_(good)  # back to the last finite image, with a safer setting
                self.faults.recover(objective, f"iteration {self.steps + 1} ({scale.size} px)")
                optimizer, evaluate = make_optimizer(x, self.cfg, self.faults.lr, scale.history), \
                    _Evaluator(objective, x, on_tile)
                continue
            good.copy_(x.detach())
            optimizer.param_groups[0]["lr"] = self.faults.lr  # the first step's warm start is over
            self.position, self.steps, self.last_losses = self.position + 1, self.steps + 1, losses
            if plateau.reached(losses["total"]) and not self.stall.barely_fell(losses):
                self.position = end  # a stalled run goes on: the plateau is not a painting
            self._report(losses, good, content_t, scale.size)
        self.curvature = optimizer.state[x].get("H_diag") if self.cfg.optimizer == "lbfgs" else None
        return good

    def interrupted(self) -> Interrupted:
        """Ctrl-C: the last finite iterate at the output's size, to be saved instead of nothing.

        Called wherever the signal landed (a step, the progress bar, between scales): good is
        only ever replaced by a whole copy_, so it is never half-updated.
        """
        return Interrupted(self.result_so_far(self.last_losses), self.steps)

    def stopped(self, objective) -> Any:
        """StopRun from a callback: the last finite iterate as the run's Result, ``stopped`` set.

        Its losses are the final ones (fp32, clamped) at the scale where it stopped, reported
        as the last Progress like those of a finished run.
        """
        result = self.result_so_far(self.final_losses(objective, stopped=True))
        result.stopped = True
        return result

    def result_so_far(self, losses) -> Any:
        image = self._full_size(finalize(self.good, self.cfg, self.good_content))
        return self.package(image, losses, self)

    def final_losses(self, objective, stopped: bool = False) -> dict[str, float]:
        """The loss terms of the image as it will be saved (clamped, in fp32), reported as the last Progress.

        The progress bar and the summary then show the same numbers: those of the output,
        not of the last iterate (which may stray outside [0, 1]) nor of a bf16 forward pass.
        ``stopped``: the run ends early; the report is at the iteration and scale it reached.
        """
        objective.bf16 = False
        terms = objective.value(self.good.clamp(0, 1))
        losses = dict(zip(terms, torch.stack(list(terms.values())).tolist()))
        # A run shorter than the plateau window is a quick look (tests, --iterations 3), not a stall.
        if not stopped and self.steps >= self.plateau_window:
            self.stall.judge(losses)
        if self.on_progress is not None:
            step, index = (self.position, self.index) if stopped else (self.total, len(self.scales) - 1)
            try:
                self.on_progress(self._progress(losses, step=step, index=index, done=True))
            except StopRun:
                pass  # the run is over anyway
        return losses

    def _first_lr(self, evaluate: "_Evaluator") -> float:
        """The step size for a scale's first L-BFGS step, warm-started from the last scale.

        A fresh L-BFGS starts its line search at 1/|g|_1 along -g, far too short here: it
        took 5-7 evaluations to grow the step at every scale (7 s of a 512 px CPU run).
        The previous scale's inverse-Hessian scale (H_diag) is a good first guess; the
        strong Wolfe search still backs off if it is too long.
        """
        if self.curvature is None or self.cfg.optimizer != "lbfgs":
            return self.faults.lr
        evaluate()  # cached: the optimizer's first call reuses it
        g1 = evaluate.grad.abs().sum().item()
        return self.faults.lr * float(self.curvature) * max(1.0, g1)  # torch's first step is lr * min(1, 1/|g|_1)

    def _progress(self, losses, step: Optional[int] = None, index: Optional[int] = None, **extra) -> Progress:
        """The one place a Progress is made: where the schedule is, and the time it took."""
        elapsed = time.perf_counter() - self.start
        step = self.position if step is None else step
        index = self.index if index is None else index
        timing = {} if extra.get("done") else {"eta": eta(self.scales, self.position, self.index, elapsed)}
        return Progress(step, self.total, losses, elapsed, size=self.scales[index].size,
                        scale=(index + 1, len(self.scales)), **timing, **extra)

    def _report(self, losses, good, content_t, size) -> None:
        if self.on_progress is None:
            return
        every = self.cfg.save_every
        snapshot = every and self.position % every == 0 and self.position < self.total
        image = self.package(finalize(good, self.cfg, content_t), losses, self) if snapshot else None
        current = lambda: to_image(finalize(good, self.cfg, content_t))  # noqa: E731
        self.on_progress(self._progress(losses, snapshot=image, current=current))

    def _tile(self, done: int, total: int, size: int) -> None:
        """A crop of a tiled evaluation is done: worth a report when one evaluation takes long."""
        if self.on_progress is not None:
            self.on_progress(self._progress(self.last_losses or {}, tile=(done, total)))

    def _full_size(self, image: torch.Tensor) -> torch.Tensor:
        if tuple(image.shape[-2:]) == self.final_hw:
            return image
        return upsample(image, torch.empty(1, 3, *self.final_hw))


def eta(scales, position: int, current: int, elapsed: float) -> Optional[float]:
    """Seconds left: the work left (pixel-evaluations, plan.py) at the rate of the work so far.

    ``position``: iterations of the schedule behind us; ``current``: the index of the scale
    being optimized (a plateau may have skipped the rest of an earlier one).
    """
    done = left = 0.0
    start = 0
    for i, scale in enumerate(scales):
        per_iteration = scale.work / scale.iterations
        finished = min(max(position - start, 0), scale.iterations) if i <= current else 0
        done += finished * per_iteration
        left += (scale.iterations - finished) * per_iteration
        start += scale.iterations
    return elapsed / done * left if done else None


class _Faults:
    """A non-finite loss: bf16 first falls back to fp32; after that each retry divides the step
    size by 10, and after MAX_RETRIES the run is given up. Each says so in a notice."""

    def __init__(self, cfg: StylizeConfig, precision: str):
        self.lr, self.precision, self.retries = cfg.lr, precision, 0
        self.notices: list = []

    def recover(self, objective, at: str) -> None:
        if objective.bf16:
            self.precision, objective.bf16 = "fp32", False
            self.notices.append(f"the loss became NaN/inf at {at} in bf16; continued in fp32")
        elif self.retries < MAX_RETRIES:
            self.retries += 1
            self.lr /= 10
            self.notices.append(Message(f"the loss became NaN/inf at {at}; restarted from the last finite image"
                                        f" with {opt('lr')} {self.lr:g}"))
        else:
            raise RunError(f"the loss stayed NaN/inf at {at} after {MAX_RETRIES} restarts with lower {opt('lr')};"
                           " check the input images and weights")


class _Stall:
    """Whether the style term barely fell from where the run started: a photo left unpainted
    (issue 20's flat red picture), which a plateau must not end and the user should hear of."""

    def __init__(self, expect_progress: bool):
        self.expect_progress = expect_progress
        self.start: Optional[float] = None  # the style term at the run's first iterate
        self.stalled = False
        self.notices: list = []

    def begin(self, evaluate: "_Evaluator") -> None:
        if self.expect_progress and self.start is None:
            self.start = evaluate.losses_at_x().get("style")  # cached: the first step reuses it

    def barely_fell(self, losses: dict[str, float]) -> bool:
        """The style term is still above STALL_FRACTION of where the run started."""
        return self.start is not None and self.start > 0 and losses.get("style", 0.0) > STALL_FRACTION * self.start

    def judge(self, final: dict[str, float]) -> None:
        if self.barely_fell(final):
            self.stalled = True
            self.notices.append(Message(
                f"the style loss barely fell ({self.start:.4g} at the start, {final['style']:.4g} at the end):"
                f" the picture may be left mostly unpainted; try a higher {opt('style_weight')}"
                f" or {opt('init')} noise"))


class _Plateau:
    """Stop a scale when the loss fell by less than ``tolerance`` (relative) over a window."""

    def __init__(self, tolerance: float, window: int = PLATEAU_WINDOW):
        self.tolerance, self.window, self.losses = tolerance, window, []

    def reached(self, loss: float) -> bool:
        if not self.tolerance:
            return False
        self.losses.append(loss)
        if len(self.losses) <= self.window:
            return False
        before = self.losses[-1 - self.window]
        return (before - loss) <= self.tolerance * abs(before)


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def finalize(x: torch.Tensor, cfg: StylizeConfig, content: torch.Tensor) -> torch.Tensor:
    """The iterate as an image: clamped to [0, 1], colours restored if asked."""
    image = x.detach().clamp(0, 1)
    if cfg.preserve_color == "luminance":
        image = transfer_luminance(image, content)
    return image
