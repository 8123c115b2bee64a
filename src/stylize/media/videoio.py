"""Video in and out with PyAV: probe a clip, stream its frames upright, write frames and copy audio.

PyAV (the `av` wheel, FFmpeg inside) rather than imageio-ffmpeg: it demuxes packets, so the
input's audio is copied into the output unchanged (no re-encode, no drift), and it gives
the stream's exact rational frame rate and display rotation. imageio-ffmpeg pipes raw
frames through an ffmpeg subprocess and would need a second ffmpeg call to remux audio.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image

from ..errors import BadInputError
from .imageio import register_plugins, still_brand


def _av():
    try:
        import av
    except ImportError:
        raise BadInputError("video needs PyAV and OpenCV: pip install 'stylize[video]'") from None
    return av


def is_video(path: str | os.PathLike) -> bool:
    """A file FFmpeg reads as moving pictures (by its content): not a still image Pillow opens."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0 or still_brand(path):
        return False  # a HEIC or AVIF photo is an image, even where no plugin reads it
    register_plugins()
    try:
        with Image.open(path):
            return False  # a still image (an animated GIF too: its first frame is stylized)
    except Exception:  # noqa: BLE001 - not an image: maybe a video
        pass
    try:
        av = _av()
    except BadInputError:
        return path.suffix.lower() in VIDEO_SUFFIXES  # say so when it is opened, not here
    try:
        with av.open(str(path)) as container:
            # FFmpeg also reads still images (a JPEG Pillow gave up on, cut short, opens as
            # "jpeg_pipe"): those stay images, so their error is the image's.
            name = container.format.name
            still = name in STILL_FORMATS or name.endswith("_pipe")
            return len(container.streams.video) > 0 and not still
    except Exception:  # noqa: BLE001 - FFmpeg cannot read it either
        return False


VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
WRITTEN_SUFFIXES = (".mp4", ".mov", ".mkv")  # containers H.264 and the copied audio go into
ANIMATED_SUFFIXES = (".webp", ".gif")  # outputs only: Pillow writes them, looping, without sound
# FFmpeg demuxers of image files (besides the "*_pipe" ones): a GIF is an image here.
STILL_FORMATS = ("image2", "image2pipe", "gif", "apng", "ico")


@dataclass(frozen=True)
class VideoInfo:
    width: int  # upright, as displayed
    height: int
    fps: Fraction
    frames: int
    rotation: int  # degrees counter-clockwise applied to each decoded frame to show it upright
    audio: bool

    @property
    def duration(self) -> float:
        return float(self.frames / self.fps)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, frame count, upright size, rotation and audio of ``path``."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInputError(f"video '{path}': has no video stream")
            stream = container.streams.video[0]
            fps = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not fps:
                raise BadInputError(f"video '{path}': no frame rate")
            rotation, count, width, height = 0, 0, stream.codec_context.width, stream.codec_context.height
            # Counted by decoding: containers' frame counts are often missing or wrong, and
            # decoding is quick next to stylizing a single frame.
            for frame in container.decode(stream):
                if count == 0:
                    rotation, width, height = _upright(frame)
                count += 1
            audio = len(container.streams.audio) > 0
    except BadInputError:
        raise
    except Exception as e:  # noqa: BLE001 - FFmpeg's reasons, in one line
        raise BadInputError(f"video '{path}': cannot be read ({_reason(e)})") from None
    if count == 0:
        raise BadInputError(f"video '{path}': has no frames")
    return VideoInfo(width, height, Fraction(fps), count, rotation, audio)


def _upright(frame) -> tuple[int, int, int]:
    rotation = round(getattr(frame, "rotation", 0) or 0) % 360
    w, h = frame.width, frame.height
    return (rotation, h, w) if rotation in (90, 270) else (rotation, w, h)


def _reason(e: Exception) -> str:
    """FFmpeg's own words, without its errno number and the path (the line names the file)."""
    if getattr(e, "strerror", None):  # av.error.FFmpegError and OSError: "[Errno N] words: 'path'"
        return e.strerror
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """A folder of numbered frames, in order: by the numbers in their names (frame_9 before frame_10)."""
    from .imageio import is_image_name

    files = [p for p in Path(folder).iterdir() if p.is_file() and is_image_name(p)]
    if not files:
        raise BadInputError(f"frames folder '{folder}': no image files in it")
    key = lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]  # noqa: E731
    return sorted(files, key=key)


def probe_frames(folder: str | os.PathLike, fps: Fraction) -> VideoInfo:
    from .imageio import image_size

    files = frame_files(folder)
    width, height = image_size(files[0], "frame")
    return VideoInfo(width, height, fps, len(files), 0, False)


def write_frames(folder: Path, names: list[str], frames: Iterator[Image.Image]) -> int:
    """Frames as image files named ``names`` into ``folder`` (made if missing), each written to a
    temporary name and renamed: a crash leaves whole frames only, and nothing else there is touched."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, image in zip(names, frames):
        temp = folder / f".{name}.partial"
        try:
            image.save(temp, format=Image.registered_extensions()[Path(name).suffix.lower()])
            os.replace(temp, folder / name)
        finally:
            temp.unlink(missing_ok=True)
        count += 1
    return count


def read_frames(path: str | os.PathLike, start: int = 0) -> Iterator[Image.Image]:
    """RGB frames, upright, from frame ``start`` on, decoded one at a time (memory stays flat)."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if i < start:
                    continue
                rotation = round(getattr(frame, "rotation", 0) or 0) % 360
                image = frame.to_image()
                yield image.rotate(rotation, expand=True) if rotation else image
    except BadInputError:
        raise
    except Exception as e:  # noqa: BLE001
        raise BadInputError(f"video '{path}': cannot be read ({_reason(e)})") from None


def write_video(path: str | os.PathLike, frames: Iterator[Image.Image], fps: Fraction,
                audio_from: str | os.PathLike | None = None, metadata: dict | None = None) -> int:
    """Encode ``frames`` (H.264, yuv420p) at ``fps`` into ``path``, atomically; returns the count.

    ``audio_from``: copy that file's first audio stream unchanged (re-encoded to AAC only
    when the output container cannot hold its codec). Sizes must be even (yuv420p).
    """
    path = Path(path)
    temp = path.with_name(f".{path.stem}.partial{path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)  # as atomic_write does for an image
    if path.suffix.lower() in ANIMATED_SUFFIXES:
        return _write_animation(path, temp, frames, fps)
    av = _av()
    count = 0
    try:
        with av.open(str(temp), "w") as out, _audio_source(av, audio_from) as source:
            for key, value in (metadata or {}).items():
                out.metadata[key] = value
            video = audio = None
            for image in frames:
                if video is None:  # every stream before the first packet: the header goes out then
                    video = out.add_stream("libx264", rate=fps)
                    video.width, video.height, video.pix_fmt = image.width, image.height, "yuv420p"
                    video.options = {"crf": "18"}
                    audio = _add_audio(av, out, source)
                for packet in video.encode(av.VideoFrame.from_image(image.convert("RGB"))):
                    out.mux(packet)
                count += 1
            if video is not None:
                out.mux(video.encode())
            if audio is not None:
                _copy_audio(source, *audio, out)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return count


def _write_animation(path: Path, temp: Path, frames: Iterator[Image.Image], fps: Fraction) -> int:
    """An animated WebP or GIF by Pillow, looping, without sound: for short clips on a web page
    (the frames are held in memory until it is written)."""
    images = [im.convert("RGB") for im in frames]
    if not images:
        return 0
    options = {"lossless": False, "quality": 80} if path.suffix.lower() == ".webp" else {}
    try:
        images[0].save(temp, format=path.suffix[1:].upper(), save_all=True, append_images=images[1:], loop=0,
                       duration=round(1000 / fps), **options)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return len(images)


class _audio_source:
    """The input opened for its audio (or None), closed with the output."""

    def __init__(self, av, path):
        self.container = av.open(str(path)) if path is not None else None

    def __enter__(self):
        return self.container if self.container is not None and self.container.streams.audio else None

    def __exit__(self, *exc):
        if self.container is not None:
            self.container.close()


def _add_audio(av, out, source):
    """(input stream, output stream, transcode?) or None."""
    if source is None:
        return None
    audio_in = source.streams.audio[0]
    try:
        return audio_in, out.add_stream_from_template(audio_in), False
    except Exception:  # noqa: BLE001 - a codec this container cannot hold: AAC instead
        return audio_in, out.add_stream("aac", rate=audio_in.rate), True


def _copy_audio(source, audio_in, audio_out, transcode: bool, out) -> None:
    for packet in source.demux(audio_in):
        if packet.dts is None:  # the demuxer's end-of-stream marker
            continue
        if not transcode:
            packet.stream = audio_out
            out.mux(packet)
            continue
        for frame in packet.decode():
            out.mux(audio_out.encode(frame))
    if transcode:
        out.mux(audio_out.encode())
