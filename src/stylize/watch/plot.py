"""``--plot FILE``: the loss curves of a run over its iterations, scale changes marked.

matplotlib (the ``plot`` extra) draws it: log axes, ticks and a legend are what it does
well, and the core install stays without it. It is imported only here, only for a plot.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import BadInputError
from .curves import LossCurves

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
# One colour per term, the same as on the preview page (preview.html).
COLOURS = {"content": "#1f77b4", "style": "#d62728", "tv": "#2ca02c", "temporal": "#9467bd", "total": "#222222"}


def check_plot(path: str | os.PathLike) -> None:
    """Before any work: matplotlib is there and ``path`` is a file it can write."""
    from ..media.imageio import check_writable

    if Path(path).suffix.lower() not in PLOT_SUFFIXES:
        raise BadInputError(f"'{path}': the plot is written as {', '.join(PLOT_SUFFIXES)}; name it so", "plot")
    if importlib.util.find_spec("matplotlib") is None:
        raise BadInputError("needs matplotlib, which is not installed: pip install 'stylize[plot]'", "plot")
    check_writable(path)


def save_plot(curves: LossCurves, path: str | os.PathLike, title: str = "") -> None:
    """Write the curves of ``curves`` to ``path`` (atomically; the format from its suffix)."""
    from matplotlib.figure import Figure  # the object API: no pyplot, no global state, no GUI

    figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    _curves(figure.subplots(), curves, title)
    _save(figure, path)


def save_frames_plot(first: tuple[str, LossCurves], finals: list[tuple[str, dict]], path: str | os.PathLike,
                     title: str = "") -> None:
    """A clip: the first stylized frame's curves, and each frame's final losses across the clip
    (keys: the frames' numbers)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.5), dpi=100, layout="constrained")
    left, across = figure.subplots(1, 2)
    key, curves = first
    _curves(left, curves, f"frame {key}")  # the first stylized frame: the full schedule, unless resumed
    numbered = [(int(n), losses) for n, losses in finals]
    terms = list(dict.fromkeys(t for _, losses in numbered for t in losses if t != "total")) + ["total"]
    for term in terms:  # later frames add the temporal term
        xs = [n for n, losses in numbered if losses.get(term, 0) > 0]
        ys = [losses[term] for n, losses in numbered if losses.get(term, 0) > 0]
        across.plot(xs, ys, label=term, color=COLOURS.get(term), marker=".", linewidth=2 if term == "total" else 1.2)
    across.set_yscale("log")
    across.set_xlabel("frame")
    across.set_ylabel("final loss (weighted)")
    across.grid(True, which="major", alpha=0.3)
    across.legend(loc="best", fontsize=9)
    across.set_title("each frame's final losses", fontsize=10)
    if title:
        figure.suptitle(title, fontsize=11)
    _save(figure, path)


def _save(figure, path: str | os.PathLike) -> None:
    from ..media.imageio import atomic_write

    fmt = Path(path).suffix.lower().lstrip(".")
    atomic_write(path, lambda f: figure.savefig(f, format=fmt))


def _curves(axes, curves: LossCurves, title: str) -> None:
    """One run's loss curves over its iterations on ``axes``, scale changes marked."""
    points, terms = curves.since(0), curves.terms()
    for term in terms:
        xs = [p["step"] for p in points if p.get(term, 0) > 0]  # a log axis has no place for 0
        ys = [p[term] for p in points if p.get(term, 0) > 0]
        axes.plot(xs, ys, label=term, color=COLOURS.get(term), linewidth=2 if term == "total" else 1.2)
    for start in curves.scale_starts():
        axes.axvline(start["step"], color="#999999", linestyle=":", linewidth=1)
        axes.annotate(f"{start['size']} px", (start["step"], 1), xycoords=("data", "axes fraction"),
                      xytext=(3, -12), textcoords="offset points", fontsize=8, color="#555555")
    if terms:
        axes.set_yscale("log")
        axes.legend(loc="upper right", fontsize=9)
    axes.set_xlabel("iteration")
    axes.set_ylabel("loss (weighted)")
    axes.grid(True, which="major", alpha=0.3)
    if title:
        axes.set_title(title, fontsize=10)
