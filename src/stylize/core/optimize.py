"""The optimizer loop: starting image, L-BFGS (or Adam) steps, progress, faults, scales."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from PIL import Image
from torch import nn

from ..config import StylizeConfig
from ..errors import Interrupted, Message, RunError, StopRun, opt
from ..media.imageio import load_image, to_image, to_tensor
from .color import transfer_luminance
from .progress import Schedule


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

    What can go wrong in a step (a non-finite loss: _Faults), what a run that barely moved
    means (_Stall) and the iterate kept for the Results (_Kept) live apart.
    """

    def __init__(self, cfg: StylizeConfig, scales, on_progress, precision: str, final_hw: tuple[int, int],
                 package: Callable, plateau_window: int = PLATEAU_WINDOW, expect_progress: bool = True):
        """``plateau_window``: iterations over which the loss must fall by ``cfg.tolerance``.

        ``expect_progress``: the run starts far from a painting (not a warm start next to its
        optimum), so a style term that barely fell means it stalled, not that it is done.
        """
        self.cfg, self.at = cfg, Schedule(list(scales), on_progress)
        self.plateau_window = plateau_window
        self.faults = _Faults(cfg, precision)
        self.stall = _Stall(expect_progress)
        self.kept = _Kept(cfg, final_hw, package)
        self.curvature = None  # L-BFGS's H_diag at the end of the last scale
        self.last_losses: Optional[dict[str, float]] = None

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
        at = self.at
        at.index = at.scales.index(scale)
        objective.bf16 = self.precision == "bf16"
        x = x.detach().clone().requires_grad_(True)
        # A crop of a tiled evaluation is done: worth a report when one evaluation takes long.
        on_tile = (lambda done, total: at.tell(self.last_losses or {}, tile=(done, total))) if scale.tiled else None
        evaluate = _Evaluator(objective, x, on_tile)
        lr = first_lr(evaluate, self.faults.lr, self.curvature if self.cfg.optimizer == "lbfgs" else None)
        optimizer = make_optimizer(x, self.cfg, lr, scale.history)
        self.stall.begin(evaluate)
        good = self.kept.begin(x, content_t)
        plateau = _Plateau(self.cfg.tolerance, self.plateau_window)
        end = at.position + scale.iterations
        while at.position < end:
            optimizer.step(evaluate)
            losses = evaluate.losses_at_x()
            if not all(map(_finite, losses.values())) or not torch.isfinite(x).all():
                with torch.no_grad():
                    x.copy_(good)  # back to the last finite image, with a safer setting
                self.faults.recover(objective, f"iteration {at.steps + 1} ({scale.size} px)")
                optimizer, evaluate = make_optimizer(x, self.cfg, self.faults.lr, scale.history), \
                    _Evaluator(objective, x, on_tile)
                continue
            good.copy_(x.detach())
            optimizer.param_groups[0]["lr"] = self.faults.lr  # the first step's warm start is over
            at.position, at.steps, self.last_losses = at.position + 1, at.steps + 1, losses
            if plateau.reached(losses["total"]) and not self.stall.barely_fell(losses):
                at.position = end  # a stalled run goes on: the plateau is not a painting
            self._report(losses)
        self.curvature = optimizer.state[x].get("H_diag") if self.cfg.optimizer == "lbfgs" else None
        return good

    def interrupted(self) -> Interrupted:
        """Ctrl-C, wherever the signal landed (a step, the progress bar, between scales): the
        last finite iterate at the output's size, to be saved instead of nothing."""
        return Interrupted(self.kept.result(self.last_losses, self), self.at.steps)

    def stopped(self, objective) -> Any:
        """StopRun from a callback: the last finite iterate as the run's Result, ``stopped`` set,
        with the final losses at the scale where it stopped."""
        result = self.kept.result(self.final_losses(objective, stopped=True), self)
        result.stopped = True
        return result

    def final_losses(self, objective, stopped: bool = False) -> dict[str, float]:
        """The loss terms of the image as it will be saved (clamped, in fp32), reported as the last Progress.

        The progress bar and the summary then show the same numbers: those of the output,
        not of the last iterate (which may stray outside [0, 1]) nor of a bf16 forward pass.
        """
        losses = self.kept.losses(objective)
        # A run shorter than the plateau window is a quick look (tests, --iterations 3), not a stall.
        if not stopped and self.at.steps >= self.plateau_window:
            self.stall.judge(losses)
        try:
            self.at.tell(losses, done=True)
        except StopRun:
            pass  # the run is over anyway
        return losses

    def _report(self, losses) -> None:
        if self.at.on_progress is None:
            return
        every, at, kept = self.cfg.save_every, self.at, self.kept
        snapshot = every and at.position % every == 0 and at.position < at.total
        image = kept.result(losses, self, full_size=False) if snapshot else None
        at.tell(losses, snapshot=image, current=lambda: to_image(kept.image()))


class _Kept:
    """The last finite iterate and its content image: what a snapshot, Ctrl-C, StopRun and the end
    of a run make their Result of. Only ever replaced by a whole copy_, never half-updated.

    ``package(image, losses, loop)`` turns an image tensor into the engine's Result.
    """

    def __init__(self, cfg: StylizeConfig, final_hw: tuple[int, int], package: Callable):
        self.cfg, self.final_hw, self.package = cfg, final_hw, package
        self.iterate: Optional[torch.Tensor] = None
        self.content: Optional[torch.Tensor] = None

    def begin(self, x: torch.Tensor, content_t: torch.Tensor) -> torch.Tensor:
        """A scale starts from ``x``: the tensor returned is the one the loop copies each good step into."""
        self.iterate, self.content = x.detach().clone(), content_t
        return self.iterate

    def image(self, full_size: bool = False) -> torch.Tensor:
        image = finalize(self.iterate, self.cfg, self.content)
        if not full_size or tuple(image.shape[-2:]) == self.final_hw:
            return image
        return upsample(image, torch.empty(1, 3, *self.final_hw))

    def result(self, losses, loop: "Loop", full_size: bool = True) -> Any:
        return self.package(self.image(full_size), losses, loop)

    def losses(self, objective) -> dict[str, float]:
        """The terms of the image as saved: clamped, in fp32."""
        objective.bf16 = False
        terms = objective.value(self.iterate.clamp(0, 1))
        return dict(zip(terms, torch.stack(list(terms.values())).tolist()))



def first_lr(evaluate: _Evaluator, lr: float, curvature: Optional[torch.Tensor]) -> float:
    """The step size for a scale's first L-BFGS step, warm-started from the last scale.

    A fresh L-BFGS starts its line search at 1/|g|_1 along -g, far too short here: it
    took 5-7 evaluations to grow the step at every scale (7 s of a 512 px CPU run).
    The previous scale's inverse-Hessian scale (``curvature``, H_diag; None: none, or not
    L-BFGS) is a good first guess; the strong Wolfe search still backs off if it is too long.
    """
    if curvature is None:
        return lr
    evaluate()  # cached: the optimizer's first call reuses it
    g1 = evaluate.grad.abs().sum().item()
    return lr * float(curvature) * max(1.0, g1)  # torch's first step is lr * min(1, 1/|g|_1)


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
