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


class ProgressBar:
    """tqdm bar fed by the engine's callback (on a terminal only); writes --save-every snapshots.

    When stderr is a file or a pipe there is no bar: its redraws would fill the log with
    carriage returns and cursor movements. A single run logs a plain line per finished scale
    instead (``log_scales``), so a long run in a script or a job shows it is alive.
    """

    def __init__(self, label: str, quiet: bool, snapshots: Optional[Path] = None, position: int = 0,
                 log_scales: bool = False):
        self.label, self.snapshots, self.position = label, snapshots, position
        self.disabled = quiet or not sys.stderr.isatty()
        self.log_scales = log_scales and not quiet and self.disabled
        self.last = None  # the previous report: its scale ended when the next one's differs
        self.bar = None  # drawn at the first iteration, so an early error prints alone

    def update(self, progress) -> None:
        if progress.snapshot is not None and self.snapshots is not None:
            progress.snapshot.save(snapshot_path(self.snapshots, progress.step))
        if self.log_scales and progress.tile is None:
            self.log_scale_end(progress)
        if self.disabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            # tqdm's own rate and ETA assume equal iterations; a finer scale's cost 4x more:
            # the engine's ETA (from the plan's work per iteration) is shown instead.
            self.bar = tqdm(total=progress.total, unit="it", dynamic_ncols=True, file=sys.stderr,
                            desc=self.label, leave=False, position=self.position,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        self.bar.update(progress.step - self.bar.n)
        self.bar.set_postfix_str(progress_text(progress), refresh=progress.done or progress.tile is not None)

    def log_scale_end(self, progress) -> None:
        """'out.png: scale 2/3 (512 px) done at iteration 90, 0:41 elapsed, total 2.41' on a scale's end."""
        last, self.last = self.last, progress
        if last is None or progress.scale[1] == 1 or (progress.scale == last.scale and not progress.done):
            return  # one scale: the summary line says it all
        ended = progress if progress.done else last
        how = "stopped" if progress.done and progress.step < progress.total else "done"  # StopRun
        click.echo(f"{self.label}: scale {ended.scale[0]}/{ended.scale[1]} ({ended.size} px) {how} at iteration"
                   f" {ended.step}, {clock(ended.elapsed)} elapsed, total {ended.losses['total']:.4g}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def echo_notices(notices: list, prefix: str = "", echo=None) -> None:
    """Each notice of a run as a 'Note: ...' line on stderr, options named as on the command line;
    one rule for one image, a batch's items and a video's frames. Printed even with -q."""
    from ..errors import cli_flag, render

    for notice in notices:
        line = f"Note: {prefix}{render(notice, cli_flag)}"
        (echo or (lambda text: click.echo(text, err=True)))(line)
