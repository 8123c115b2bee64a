"""Stylize a video frame by frame with temporal consistency (Ruder, Dosovitskiy and Brox 2016).

The first frame gets the full coarse-to-fine schedule. Every later frame starts from the
previous output warped to it by the optical flow of the input, and a temporal term keeps
it close to that warped image wherever the flow is reliable (forward-backward
consistent, no motion edge), so the painting does not flicker from frame to frame.

Finished frames are PNGs in a work folder beside the output (``OUTPUT.frames/``): the
same command after a kill or Ctrl-C continues from the first missing frame. The video is
encoded at the end, atomically, with the input's audio copied; then the folder goes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from PIL import Image

from ..config import DEFAULTS, StylizeConfig
from ..errors import BadInputError
from ..media.imageio import long_edge_dims

if TYPE_CHECKING:  # the CLI imports this module for --help: torch loads only when a clip is run
    from ..core.plan import RunPlan, ScalePlan, Speed

TEMPORAL_WEIGHT = 2.0e2  # see VideoConfig
FRAME_ITERATIONS = 30
# A later frame starts next to its optimum: on a still stretch of a clip the loss stops
# falling at once, and each L-BFGS step then burns its whole line search (4x the time per
# frame once a moving card had left the example clip). 5 flat steps end it.
FRAME_PLATEAU_WINDOW = 5


@dataclass(frozen=True)
class VideoConfig:
    """How a clip is stylized, beyond the per-image StylizeConfig."""

    # Weight of the temporal term (mean squared difference to the warped previous output on
    # reliable pixels, [0, 1] units). 0: every frame stylized on its own, the full schedule.
    temporal_weight: float = TEMPORAL_WEIGHT
    frame_iterations: int = FRAME_ITERATIONS  # L-BFGS steps for each frame after the first
    fps: float = 24.0  # frame rate of a folder of frames (a video file has its own)
    flow: str = "dis"  # dis (OpenCV, no weights) | raft (torchvision, needs its weights)
    flow_weights: Optional[str] = None  # raft: a state_dict file instead of torch's cache
    keep_frames: bool = False  # keep OUTPUT.frames/ after the video is written


VIDEO_DEFAULTS = VideoConfig()
FLOWS = ("dis", "raft")


def check_video(video: VideoConfig) -> None:
    """Options of the video job, before torch."""
    if video.temporal_weight < 0:
        raise BadInputError(f"must be >= 0 (got {video.temporal_weight:g})", "temporal_weight")
    if video.frame_iterations < 1:
        raise BadInputError(f"must be at least 1 (got {video.frame_iterations})", "frame_iterations")
    if video.fps <= 0:
        raise BadInputError(f"must be > 0 (got {video.fps:g})", "fps")
    if video.flow not in FLOWS:
        raise BadInputError(f"'{video.flow}' is not one of {', '.join(FLOWS)}", "flow")


@dataclass
class FrameDone:
    index: int  # 0-based
    total: int
    seconds: float  # this frame's optimization; 0 for a frame found in the work folder
    resumed: bool
    notices: list = field(default_factory=list)  # the frame's Result.notices (a fallback to fp32, a stall)


def is_frames_output(output: Path) -> bool:
    """An output without an extension (``painted/``) is a folder of frames, not a video file."""
    return not Path(output).suffix


def work_folder(output: Path) -> Path:
    return output.with_name(output.name + ".frames")


def frame_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The output frame's size: the long edge ``size``, both edges even (H.264 4:2:0 needs it)."""
    w, h = long_edge_dims((width, height), size)
    return max(2, w - w % 2), max(2, h - h % 2)


def stylize_video(content: str | os.PathLike, styles: Sequence, output: str | os.PathLike,
                  config: StylizeConfig = DEFAULTS, video: Optional[VideoConfig] = None,
                  on_frame: Optional[Callable[[FrameDone], None]] = None, on_progress=None,
                  masks=None, style_masks=None) -> dict:
    """Stylize the clip ``content`` into ``output``; returns a summary dict (frames, seconds, ...).

    StopRun from ``on_progress`` (or ``on_frame``) ends it like Ctrl-C: the frame in progress is
    dropped, the finished ones stay in the work folder (the same call continues from there),
    no video is written, and the StopRun reaches the caller.
    """
    from ..core.engine import Stylizer
    from ..errors import StopRun
    from ..media.flow import make_flow
    from ..media.videoio import write_frames, write_video

    video = video or VIDEO_DEFAULTS
    check_video(video)
    output, styles = Path(output), list(styles)
    files, info = probe_clip(content, video)
    source = _frames(content, files, config)
    width, height = frame_size(info.width, info.height, config.size)
    config = replace(config, size=max(width, height))  # the frames are resized to (width, height) first
    folder = work_folder(output)
    settings = _settings(content, styles, config, video, info, masks, style_masks)
    _open_work_folder(folder, settings)
    stylizer = Stylizer(config, len(styles))
    flow = make_flow(video.flow, video.flow_weights, stylizer.device)
    previous_in = previous_out = None
    spent = 0.0
    for index, frame in enumerate(source):
        frame = frame.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        path = folder / f"{index + 1:06d}.png"
        resumed = path.exists()
        started = time.perf_counter()
        notices = []
        if resumed:
            out = Image.open(path).convert("RGB")
        else:
            warm = None
            if previous_out is not None and video.temporal_weight > 0:
                warm = _warm_start(flow, frame, previous_in, previous_out, video)
            result = stylizer.run(frame, styles, on_progress=on_progress, masks=masks, style_masks=style_masks,
                                  warm=warm)
            if result.stopped:  # a partial frame must not be kept as a finished one
                raise StopRun
            out, notices = result.image, result.notices
            _save_atomically(out, path)
        seconds = 0.0 if resumed else time.perf_counter() - started
        spent += seconds
        if on_frame:
            on_frame(FrameDone(index, info.frames, seconds, resumed, notices))
        previous_in, previous_out = frame, out
    count = index + 1
    frames = (Image.open(folder / f"{i + 1:06d}.png") for i in range(count))
    if is_frames_output(output):  # a folder of frames out: the input's names, or numbered
        names = [f.name for f in files] if files else [f"{i + 1:06d}.png" for i in range(count)]
        write_frames(output, names, frames)
    else:
        write_video(output, frames, info.fps, audio_from=content if info.audio else None,
                    metadata={"comment": json.dumps(settings)})
    if not video.keep_frames:
        shutil.rmtree(folder, ignore_errors=True)
    return {"frames": count, "fps": info.fps, "size": (width, height), "seconds": spent, "audio": info.audio}


def _warm_start(flow, frame: Image.Image, previous_in: Image.Image, previous_out: Image.Image, video: VideoConfig):
    """The link to the previous output (Ruder et al. 2016): its warp, where to trust it, where to
    start, and a TemporalTerm that keeps the frame close to the warp wherever the flow is trusted.

    Where the flow is not trusted (what the last frame hid, motion edges) the warped image
    holds whatever the warp smeared there, e.g. a moving object dragged along, and 30
    iterations do not paint it away: those pixels start from this frame's photo instead,
    which they do repaint (the blend is softened by a 5 px blur so no seam is left).
    """
    import torch.nn.functional as F

    from ..core.engine import WarmStart
    from ..core.terms import TemporalTerm
    from ..media.flow import reliable, warp
    from ..media.imageio import to_tensor

    back, forward = flow(frame, previous_in), flow(previous_in, frame)
    warped, trust = warp(to_tensor(previous_out), back), reliable(back, forward)
    soft = F.avg_pool2d(trust, 5, stride=1, padding=2, count_include_pad=False).clamp(0, 1) * trust
    start = soft * warped + (1 - soft) * to_tensor(frame)
    term = TemporalTerm(warped, trust, video.temporal_weight)
    return WarmStart(start, video.frame_iterations, [term], FRAME_PLATEAU_WINDOW)


def probe_clip(content, video: VideoConfig):
    """(frame files or None, VideoInfo) of a video file or a folder of frames, from headers only."""
    from ..media.videoio import frame_files, probe, probe_frames

    if not Path(content).is_dir():
        return None, probe(content)
    return frame_files(content), probe_frames(content, Fraction(video.fps).limit_denominator(1001))


def _frames(content, files, config: StylizeConfig):
    """The frames, one at a time: decoded from the video, or read from the folder's ``files``."""
    from ..media.imageio import load_image
    from ..media.videoio import read_frames

    if files is None:
        return read_frames(content)
    return (load_image(f, "frame", config.max_pixels) for f in files)


@dataclass
class VideoPlan:
    """A clip's work, decided before any frame: the first frame's full schedule, then each later
    frame at the output size only, from the previous output warped (``later``; None with no
    temporal link: every frame then runs the first one's schedule)."""

    frames: int
    width: int
    height: int
    first: RunPlan
    later: Optional[ScalePlan]

    @property
    def peak(self) -> int:
        return self.first.peak  # a later frame is the first one's last scale, fewer iterations

    def seconds(self, speed: Speed) -> float:
        if self.later is None:
            return self.frames * self.first.seconds(speed)
        return self.first.seconds(speed) + (self.frames - 1) * self.later.seconds(speed)


def plan_video(stylizer, info, video: VideoConfig, masks: int = 0, anyway: bool = False) -> VideoPlan:
    """The plan of a clip of ``info`` (probe_clip's VideoInfo) for ``stylizer``, whose config's
    size is the output's long edge.

    ``anyway``: the smallest plan even where it does not fit (what ``force`` would run).
    """
    width, height = frame_size(info.width, info.height, stylizer.cfg.size)
    first = (stylizer.plan_anyway if anyway else stylizer.plan)((width, height), masks)
    later = first.scales[-1].with_iterations(video.frame_iterations) if video.temporal_weight > 0 else None
    return VideoPlan(info.frames, width, height, first, later)


def _settings(content, styles, config, video, info, masks, style_masks) -> dict:
    """What decides the frames: a work folder made with other settings is not resumed."""
    return {"content": str(content), "styles": [str(s) for s in styles], "config": asdict(config),
            "video": asdict(video) | {"keep_frames": None}, "frames": info.frames, "fps": str(info.fps),
            "masks": [str(m) for m in masks or ()], "style_masks": [str(m) for m in style_masks or ()]}


def _open_work_folder(folder: Path, settings: dict) -> None:
    record = folder / "settings.json"
    if folder.exists():
        try:
            same = json.loads(record.read_text()) == json.loads(json.dumps(settings))
        except (OSError, ValueError):
            same = False
        if not same:
            raise BadInputError(f"work folder '{folder}' holds frames made with other settings or another clip;"
                                " delete it to start again, or run the command that made it")
        return
    folder.mkdir(parents=True)
    record.write_text(json.dumps(settings, indent=1))


def _save_atomically(image: Image.Image, path: Path) -> None:
    temp = path.with_name(f".{path.name}.partial")
    image.save(temp, format="PNG")
    os.replace(temp, path)


__all__ = ["VideoConfig", "FrameDone", "stylize_video", "work_folder", "frame_size"]
