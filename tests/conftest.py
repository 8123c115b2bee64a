"""Shared fixtures: tiny images made here (no test reads anything outside the repo)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from stylize.cli.main import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Tests wait for events (a line, a file, a status); a wait only gives up after this many
# seconds, a guard against a hang, not a guess of how long the work takes: on a shared CI
# machine with the CPUs busy, a step that takes 10 s alone can take minutes.
HANG_GUARD = float(os.environ.get("STYLIZE_TEST_HANG_GUARD", "1200"))


@contextlib.contextmanager
def spawned(args, **kwargs):
    """The CLI in a subprocess that Ctrl-C reaches, killed if the test fails first.

    A shell starts background jobs with SIGINT ignored, and a child inherits that: the
    signal tests would see a run that never stops. The child gets the default back.
    """
    proc = subprocess.Popen([str(a) for a in args], text=True, **kwargs,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def make_content(size=(48, 32)) -> Image.Image:
    """A 'photo': a smooth gradient with a few flat shapes."""
    w, h = size
    im = Image.new("RGB", size)
    im.putdata([(int(255 * x / w), int(255 * y / h), 128) for y in range(h) for x in range(w)])
    draw = ImageDraw.Draw(im)
    draw.ellipse((w // 4, h // 4, w // 2, 3 * h // 4), fill=(240, 200, 40))
    draw.rectangle((2 * w // 3, h // 5, w - 3, h - 5), fill=(30, 60, 200))
    return im


def make_style(size=(40, 40), colours=((200, 30, 30), (20, 20, 120))) -> Image.Image:
    """A 'painting': diagonal stripes, strong texture for the Gram matrices."""
    w, h = size
    im = Image.new("RGB", size)
    im.putdata([colours[((x + y) // 3) % 2] for y in range(h) for x in range(w)])
    return im


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    paths = {"content": tmp_path / "content.png", "style": tmp_path / "style.png",
             "style2": tmp_path / "style2.png"}
    make_content().save(paths["content"])
    make_style().save(paths["style"])
    make_style(colours=((250, 250, 250), (10, 120, 10))).save(paths["style2"])
    return paths


# Plumbing-only runs: random weights, tiny size, two iterations.
FAST = ["--weights", "random", "--size", "32", "--iterations", "2", "-q"]


@pytest.fixture
def cli():
    """Run the command in-process; returns click's Result (stdout and stderr apart)."""

    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def make_clip(path: Path, frames: int = 8, size=(64, 48), fps: int = 8, audio: float = 1.0, rotation: int = 0,
              codec: str = "libx264", video_stream: bool = True, container: str = "mp4") -> Path:
    """A short clip: a slow pan across examples/chelsea.jpg with a square moving the other way,
    and ``audio`` seconds of a 440 Hz tone (0: none). ``rotation``: display-matrix degrees."""
    import av
    import numpy as np

    w, h = size
    photo = Image.open(EXAMPLES / "chelsea.jpg").convert("RGB").resize((w * 2, h * 2))
    with av.open(str(path), "w", format=container) as out:
        video = out.add_stream(codec, rate=fps) if video_stream else None
        if video:
            video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=44100) if audio else None
        for i in range(frames if video else 0):
            frame = photo.crop((2 * i, i, 2 * i + w, i + h))
            ImageDraw.Draw(frame).rectangle((w - 12 - 3 * i, 6, w - 4 - 3 * i, 14), fill=(250, 250, 250))
            for packet in video.encode(av.VideoFrame.from_image(frame)):
                out.mux(packet)
        if video:
            out.mux(video.encode())
        if sound is not None:
            samples = int(44100 * audio)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[None, start:start + 1024]
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 44100, start
                for packet in sound.encode(frame):
                    out.mux(packet)
            out.mux(sound.encode())
    return path
