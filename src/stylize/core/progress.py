"""Where a run is and what its caller hears: the Progress reports, the schedule they are made
from, and the ETA (the work left at the rate of the work so far)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from PIL import Image


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


@dataclass
class Schedule:
    """Where a run is in its scales (plan.py's ScalePlans): moved by the steps, read by every
    report. ``tell`` is the one place a Progress is made."""

    scales: list
    on_progress: Optional[Callable] = None
    index: int = 0  # of the scale being optimized, in scales
    position: int = 0  # iterations of the schedule behind us (plateau skips count as done)
    steps: int = 0  # optimizer steps actually taken
    start: float = field(default_factory=time.perf_counter)

    @property
    def total(self) -> int:
        return sum(s.iterations for s in self.scales)

    def tell(self, losses, done: bool = False, **extra) -> None:
        """Hands ``on_progress`` where the schedule is and the time it took (an ETA until ``done``)."""
        if self.on_progress is None:
            return
        elapsed = time.perf_counter() - self.start
        timing = {} if done else {"eta": eta(self.scales, self.position, self.index, elapsed)}
        self.on_progress(Progress(self.position, self.total, losses, elapsed, size=self.scales[self.index].size,
                                  scale=(self.index + 1, len(self.scales)), done=done, **timing, **extra))


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
