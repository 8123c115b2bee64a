"""The CLI's side of ``--preview`` and ``--plot``: start the page, feed it, plot at the end."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable, Optional

import click

from .history import LossHistory


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

    def __init__(self, config: WatchConfig, label: str):
        self.config, self.label = config, label
        self.preview = None
        self.history = LossHistory()  # the plot's, when there is no page to share one with
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
            if self.preview is None:
                self.history.record(progress)
            else:
                self.preview.update(progress)  # last: it raises StopRun once the page said stop

        return on_progress

    def start_item(self, name: str, index: int, count: Optional[int], done: int) -> None:
        if self.preview is not None:
            from .preview import Item

            self.preview.start_item(Item(name, index, count, done))

    def end(self, state: str, image=None) -> None:
        """The run is over: ``state`` done | stopped | interrupted | failed; the plot is written."""
        if self.preview is not None:
            self.preview.finish(state, image)
        history = self.history if self.preview is None else self.preview.history
        if self.config.plot and history.points:  # no iteration, no curve: nothing is written
            from .plot import save_plot

            save_plot(history, self.config.plot, title=f"{self.label} ({state})")
