"""The losses of a run over its iterations, recorded from its Progress reports.

One record serves the live preview page (status.json) and the ``--plot`` picture: points
(iteration, loss terms) and the iterations where each scale began. No torch, no PIL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleStart:
    step: int  # the first iteration reported at this scale
    scale: int  # 1 = the coarsest
    size: int  # its long edge, px


class LossCurves:
    """Points and scale changes of one run; ``record`` is an ``on_progress`` callback.

    Thread-safe: the optimization records in its thread while a server reads ``since``.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.points: list[tuple[int, dict[str, float]]] = []  # (iteration, {term: weighted loss})
        self.scales: list[ScaleStart] = []
        self.final: dict[str, float] | None = None  # of the saved image (the last report)

    def record(self, progress) -> None:
        if progress.tile is not None or not progress.losses:
            return  # a report inside an evaluation: the losses are still the last iteration's
        with self._lock:
            if progress.done:
                self.final = dict(progress.losses)
                return
            if not self.scales or self.scales[-1].scale != progress.scale[0]:
                self.scales.append(ScaleStart(progress.step, progress.scale[0], progress.size))
            self.points.append((progress.step, dict(progress.losses)))

    def since(self, step: int = 0) -> list[dict]:
        """The points after iteration ``step``, as JSON-ready dicts {"step": ..., term: ...}."""
        with self._lock:
            return [{"step": s, **losses} for s, losses in self.points if s > step]

    def scale_starts(self) -> list[dict]:
        with self._lock:
            return [vars(s).copy() for s in self.scales]

    def last(self) -> dict[str, float]:
        """The run's final losses (the last report's), or its last iteration's if it had none."""
        with self._lock:
            return dict(self.final if self.final is not None else self.points[-1][1] if self.points else {})

    def terms(self) -> list[str]:
        """Every loss term that was reported, in the order first seen ('total' last)."""
        with self._lock:
            names = dict.fromkeys(k for _, losses in self.points for k in losses)
        return [k for k in names if k != "total"] + (["total"] if "total" in names else [])
