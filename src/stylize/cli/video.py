"""`stylize clip.mp4 painting.jpg -o out.mp4`: the video path of the CLI (prints; jobs/video.py does not)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import click

from ..config import StylizeConfig, plural
from ..errors import BadInputError, Interrupted, StopRun
from ..jobs.video import FrameDone, VideoConfig, work_folder
from ..media.videoio import ANIMATED_SUFFIXES, WRITTEN_SUFFIXES
from ..watch.session import WATCH_DEFAULTS, Watch, WatchConfig
from .display import Display, ProgressBar, clock


def run_video(content: str, styles: list[str], output: str, config: StylizeConfig, video: VideoConfig,
              quiet: bool, signals, masks=None, style_masks=None, watch: WatchConfig = WATCH_DEFAULTS) -> None:
    from ..jobs.video import stylize_video
    from ..media.imageio import check_not_an_input, check_writable
    from .common import check_inputs, check_plot_option

    if Path(output).suffix and Path(output).suffix.lower() not in (*WRITTEN_SUFFIXES, *ANIMATED_SUFFIXES):
        raise BadInputError(f"'{output}' is not a video name; the content is a video, so the output is one too"
                            " (.mp4, .mov or .mkv; .webp or .gif for a short silent loop; no extension: a folder of frames)",
                            "output")
    if Path(output).suffix:
        check_writable(output)  # before any work, as for an image: not after the last frame
    check_not_an_input(output, [content, *styles, *(masks or ()), *(style_masks or ())], "output")
    check_inputs([], styles, config, masks, style_masks)
    progress = _FrameProgress(Path(output).name, quiet)
    started = time.perf_counter()
    check_plot_option(watch, [content, *styles, *(masks or ()), *(style_masks or ())])
    with Watch(watch, Path(output).name, plot="frames") as watching:
        page = _FramePage(watching, progress)
        try:
            done = stylize_video(content, styles, output, config, video, on_frame=page.frame_done,
                                 on_progress=page.on_progress, masks=masks, style_masks=style_masks)
        except (KeyboardInterrupt, Interrupted, StopRun) as e:  # the frame in progress is dropped
            progress.close()
            stopped = isinstance(e, StopRun)
            watching.end("stopped" if stopped else "interrupted")
            kept = len(list(work_folder(Path(output)).glob("*.png")))
            click.echo(f"{'Stopped' if stopped else 'Interrupted'}: {plural(kept, 'finished frame')} kept in"
                       f" {work_folder(Path(output))}; the same command continues from there", err=True)
            raise SystemExit(0 if stopped else signals.code)
        finally:
            progress.close()
        watching.end("done")
    if not quiet:
        w, h = done["size"]
        made = done["frames"] - progress.resumed
        per = f"{done['seconds'] / made:.1f} s per frame" if made else "all frames resumed"
        click.echo(f"{output}: {done['frames']} frames of {w}x{h} px at {float(done['fps']):.3g} fps"
                   f"{' with audio' if done['audio'] else ''} in {time.perf_counter() - started:.1f} s"
                   f" ({per}{f', {progress.resumed} resumed' if progress.resumed else ''});"
                   f" work folder {work_folder(Path(output))} {'kept' if video.keep_frames else 'removed'}")


class _FrameProgress:
    """A bar over frames above one over the frame's iterations; a line per frame in a log.

    The ETA counts later frames at their own pace: the first frame runs the full schedule, the
    others far fewer steps.
    """

    def __init__(self, label: str, quiet: bool):
        self.label = label
        self.display = Display(quiet)
        self.inner: Optional[ProgressBar] = None  # the frame in progress
        self.finished = 0  # frames done or resumed
        self.resumed = 0
        self.later: list[float] = []

    def step(self, progress) -> None:
        if self.inner is None:
            self.inner = ProgressBar(self.display, f"frame {self.finished + 1}")
        self.inner.update(progress)

    def update(self, done: FrameDone) -> None:
        self._close_inner()
        self.finished = done.index + 1
        self.resumed += done.resumed
        if not done.resumed and done.index > 0:
            self.later.append(done.seconds)
        self.display.notices(done.notices, f"{self.label}: frame {done.index + 1}: ")
        left = done.total - done.index - 1
        pace = sum(self.later) / len(self.later) if self.later else done.seconds
        status = f"{'resumed' if done.resumed else f'{done.seconds:.1f} s'}, ETA {clock(left * pace)}"
        if self.display.log:
            self.display.say(f"{self.label}: frame {done.index + 1}/{done.total} {status}")
        if "outer" not in self.display.bars:
            self.display.open("outer", done.total, self.label, "frame")
        self.display.advance("outer", done.index + 1, f"last {status}")

    def _close_inner(self) -> None:
        if self.inner is not None:
            self.inner.close()
            self.inner = None

    def close(self) -> None:
        self._close_inner()
        self.display.close()


class _FramePage:
    """Feeds the preview page a clip: each frame is an item of its own, with its own curve."""

    def __init__(self, watch: Watch, progress: _FrameProgress):
        self.watch, self.progress = watch, progress
        self.total = None  # the clip's frame count, once known
        self.current = None  # the frame whose reports come in
        self.report = watch.callback(progress.step)

    def frame_done(self, done: FrameDone) -> None:
        self.total = done.total
        self.progress.update(done)

    def on_progress(self, report) -> None:
        finished = self.progress.finished  # frames done or resumed
        if self.current != finished + 1:
            self.current = finished + 1
            self.watch.start_item(f"frame {self.current}", self.current, self.total, finished, str(self.current))
        self.report(report)
