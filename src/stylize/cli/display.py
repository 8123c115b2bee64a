"""What a run shows while it works and when it ends: the progress bar or log lines, the summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click


def summary(result, seconds: float) -> str:
    """'512x341 px, 350 iterations in 42.6 s on cpu bf16 (seed 0, ...); loss: content ..., total ...'.

    A run stopped from the preview page starts with 'stopped at iteration N, '.
    """
    w, h = result.image.size
    cfg = result.config
    stopped = f"stopped at iteration {result.steps}, " if result.stopped else ""
    stalled = "; the style barely changed (see the note above)" if result.stalled else ""
    return (f"{stopped}{w}x{h} px, {result.steps} iterations in {seconds:.1f} s on {result.device}"
            f" {result.precision} (seed {cfg.seed}, {cfg.model} {cfg.weights} weights); {format_losses(result.losses)}"
            f"{stalled}")


def format_losses(losses: dict) -> str:
    return (f"loss: content {losses['content']:.4g}, style {losses['style']:.4g},"
            f" tv {losses['tv']:.4g}, total {losses['total']:.4g}")


def snapshot_path(output: Path, step: int) -> Path:
    """OUTPUT_<iteration>.ext: where --save-every (and a Ctrl-C that keeps OUTPUT) write."""
    return output.with_name(f"{output.stem}_{step:04d}{output.suffix}")


def clock(seconds: float) -> str:
    """'4:05', or '1:02:05' past an hour."""
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes}:{seconds:02d}"


def progress_text(progress) -> str:
    """'1024px 3/4 tile 5/24 ETA 12:30 total 2.41 content 1.66 style 0.73' for a progress bar."""
    parts = [f"{progress.size}px"]
    if progress.scale[1] > 1:
        parts.append(f"scale {progress.scale[0]}/{progress.scale[1]}")
    if progress.tile is not None:
        parts.append(f"tile {progress.tile[0]}/{progress.tile[1]}")
    if progress.eta is not None and not progress.done:
        parts.append(f"ETA {clock(progress.eta)}")
    losses = progress.losses
    if losses:
        parts.append(f"total {losses['total']:.4g} content {losses['content']:.4g} style {losses['style']:.4g}")
    return " ".join(parts)


def on_terminal(stream) -> bool:
    """Whether ``stream`` is a terminal (bars) rather than a file or a pipe (plain lines)."""
    return stream.isatty()


# A bar whose ETA is the caller's (in the status): its units differ in cost.
OWN_ETA = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


class Display:
    """The one progress display of every command: one image, a folder, a video, training.

    On a terminal: tqdm bars, an outer one over the job's units (images, frames, epochs) above an
    inner one over a run's iterations, with lines written above them. When stderr is a file or
    a pipe (``log``): no bars, whose redraws would fill the log with carriage returns and cursor
    movements, but a plain line where a bar would move on a unit. With ``-q``: only the lines
    said with ``always`` (failures, notes, warnings).
    """

    def __init__(self, quiet: bool, stream=None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.terminal = not quiet and on_terminal(self.stream)
        self.log = not quiet and not self.terminal
        self.bars: dict = {}  # "outer", "inner": the open tqdm bars

    def open(self, level: str, total: int, desc: str, unit: str, leave: bool = False, rate: bool = False) -> None:
        """A bar at ``level`` ("outer" or "inner"), replacing the one there; nothing unless on a terminal.

        ``rate``: tqdm's own rate and ETA, for units of about equal cost (images, epochs).
        """
        self.close(level)
        if not self.terminal:
            return
        from tqdm import tqdm

        position = 1 if level == "inner" and "outer" in self.bars else 0
        self.bars[level] = tqdm(total=total, desc=desc, unit=unit, leave=leave, position=position,
                                dynamic_ncols=True, file=self.stream, bar_format=None if rate else OWN_ETA)

    def advance(self, level: str, to: int, status: str = "", refresh: Optional[bool] = None) -> None:
        """Moves the bar at ``level`` to ``to`` units done, ``status`` after the time.

        ``refresh``: draw it now, not at tqdm's next redraw (0.1 s on); by default for the
        outer bar, whose units are few and far between (its last one must show).
        """
        bar = self.bars.get(level)
        if bar is not None:
            bar.update(to - bar.n)
            bar.set_postfix_str(status, refresh=level == "outer" if refresh is None else refresh)

    def say(self, text: str, always: bool = False) -> None:
        """One line: above the bars on a terminal, plain in a log; with -q only if ``always``."""
        if self.quiet and not always:
            return
        if self.bars:
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        else:
            click.echo(text, file=self.stream)

    def notices(self, notices: list, prefix: str = "") -> None:
        echo_notices(notices, prefix, lambda line: self.say(line, always=True))

    def close(self, level: Optional[str] = None) -> None:
        """Closes the bar at ``level``, or every bar (inner first)."""
        for name in [level] if level else ["inner", "outer"]:
            bar = self.bars.pop(name, None)
            if bar is not None:
                bar.close()


class ProgressBar:
    """A run's iterations on a ``Display``, fed by the engine's callback; writes --save-every snapshots.

    In a log a run with several scales says a line as each one ends (``log_scales``), so a long
    run in a script or a job shows it is alive.
    """

    def __init__(self, display: Display, label: str, snapshots: Optional[Path] = None, log_scales: bool = False):
        self.display, self.label, self.snapshots = display, label, snapshots
        self.log_scales = log_scales and display.log
        self.last = None  # the previous report: its scale ended when the next one's differs

    def update(self, progress) -> None:
        if progress.snapshot is not None and self.snapshots is not None:
            progress.snapshot.save(snapshot_path(self.snapshots, progress.step))
        if self.log_scales and progress.tile is None:
            self.log_scale_end(progress)
        if "inner" not in self.display.bars:  # drawn at the first iteration: an early error prints alone
            # tqdm's own rate and ETA assume equal iterations; a finer scale's cost 4x more:
            # the engine's ETA (from the plan's work per iteration) is shown instead.
            self.display.open("inner", progress.total, self.label, "it")
        self.display.advance("inner", progress.step, progress_text(progress),
                             refresh=progress.done or progress.tile is not None)

    def log_scale_end(self, progress) -> None:
        """'out.png: scale 2/3 (512 px) done at iteration 90, 0:41 elapsed, total 2.41' on a scale's end."""
        last, self.last = self.last, progress
        if last is None or progress.scale[1] == 1 or (progress.scale == last.scale and not progress.done):
            return  # one scale: the summary line says it all
        ended = progress if progress.done else last
        how = "stopped" if progress.done and progress.step < progress.total else "done"  # StopRun
        self.display.say(f"{self.label}: scale {ended.scale[0]}/{ended.scale[1]} ({ended.size} px) {how} at"
                         f" iteration {ended.step}, {clock(ended.elapsed)} elapsed, total {ended.losses['total']:.4g}")

    def close(self) -> None:
        self.display.close("inner")


def echo_notices(notices: list, prefix: str = "", echo=None) -> None:
    """Each notice of a run as a 'Note: ...' line on stderr, options named as on the command line;
    one rule for one image, a batch's items and a video's frames. Printed even with -q."""
    from ..errors import cli_flag, render

    for notice in notices:
        line = f"Note: {prefix}{render(notice, cli_flag)}"
        (echo or (lambda text: click.echo(text, err=True)))(line)
