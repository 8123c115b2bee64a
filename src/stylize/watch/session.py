"""A command's side of ``--preview`` and ``--plot``: start the page, feed it, plot at the end.

Every kind of job is watched the same way: its runs (one image, each item of a batch, each
frame of a video) report through ``callback``, ``start_item`` opens the next one, ``end``
closes the job. The plot: one run's curves; a batch's, one figure per item beside FILE
(FILE_<item>.png, written as the item ends); a video's, the first stylized frame's curves
and every frame's final losses.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import click

from .curves import LossCurves


@dataclass(frozen=True)
class WatchConfig:
    """How a run is watched: the live page (off unless asked) and the plot written at the end."""

    preview: bool = False
    preview_host: str = "127.0.0.1"  # loopback: other machines cannot reach the page unless told
    preview_port: int = 0  # 0: a free port, chosen by the system
    plot: Optional[str] = None  # a .png, .svg or .pdf of the loss curves


WATCH_DEFAULTS = WatchConfig()


class Watch:
    """A context manager around one run or one batch: the preview server while it lasts.

    ``callback(then)`` wraps a progress callback (the bar) so the page and the plot hear every
    report too; ``end(state, image)`` tells the page how it ended and writes the plot.
    """

    def __init__(self, config: WatchConfig, label: str, plot: str = "run"):
        """``plot``: how the runs are drawn: "run" (one), "items" (a figure each), "frames" (a clip)."""
        self.config, self.label, self.plot = config, label, plot
        self.preview = None
        self.curves = LossCurves()  # the run in progress
        self.key: str = label  # its name in a plot's file name or axis
        # What the plot needs of the finished runs, and no more (a batch of thousands keeps
        # nothing: each item's figure is written as it ends): a single run's or a clip's first
        # stylized frame's curves, and every frame's final losses.
        self.first: Optional[tuple[str, LossCurves]] = None
        self.finals: list[tuple[str, dict]] = []
        self._stack = ExitStack()

    def __enter__(self) -> "Watch":
        if self.config.preview:
            from .preview import Preview, PreviewServer

            self.preview = Preview(self.label)
            server = PreviewServer(self.preview, self.config.preview_host, self.config.preview_port)
            self._stack.enter_context(server)
            # Even with -q: the URL is what --preview was asked for.
            click.echo(f"Preview: {server.url}", err=True)
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def callback(self, then: Callable) -> Callable:
        def on_progress(progress) -> None:
            then(progress)
            if self.config.plot:  # the page keeps its own curves
                self.curves.record(progress)
            if self.preview is not None:
                self.preview.update(progress)  # last: it raises StopRun once the page said stop

        return on_progress

    def start_item(self, name: str, index: int, count: Optional[int], done: int, key: Optional[str] = None) -> None:
        """The next run of a batch or a clip begins (``key``: its name in the plot, e.g. the output's stem)."""
        self._close_run()
        self.key = key or name
        if self.preview is not None:
            from .preview import Item

            self.preview.start_item(Item(name, index, count, done))

    def _close_run(self) -> None:
        curves, self.curves = self.curves, LossCurves()
        if not (self.config.plot and curves.points):  # no plot asked; no iteration (skipped, resumed)
            return
        if self.plot == "items":
            from .plot import save_plot

            save_plot(curves, item_plot_path(self.config.plot, self.key), title=self.key)
            return
        self.first = self.first or (self.key, curves)
        self.finals.append((self.key, curves.last()))

    def end(self, state: str, image=None) -> None:
        """The job is over: ``state`` done | stopped | interrupted | failed; the plot is written."""
        if self.preview is not None:
            self.preview.finish(state, image)
        self._close_run()
        if self.first is not None:
            from .plot import save_frames_plot, save_plot

            title = f"{self.label} ({state})"
            if self.plot == "frames":
                save_frames_plot(self.first, self.finals, self.config.plot, title)
            else:
                save_plot(self.first[1], self.config.plot, title=title)


def item_plot_path(plot: str, key: str) -> Path:
    """A batch item's figure: FILE_<key>.png beside FILE (``key``: the output's path in the folder)."""
    path = Path(plot)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return path.with_name(f"{path.stem}_{safe}{path.suffix}")
