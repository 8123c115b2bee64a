"""Shared fixtures and helpers: tiny images and clips made here (no test reads anything outside
the repo), the preview driven over HTTP, objectives for the exact-tiles tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image, ImageDraw

from stylize.cli.main import main
from stylize.config import StylizeConfig, validate
from stylize.core.objective import Objective, style_moments, style_targets
from stylize.core.statistics import relative_mse
from stylize.net.features import build_extractor
from stylize.net.weights import load_weights

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



def only_line(result) -> str:
    """The one line a failed command printed on stderr (asserted: exactly one, no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def outputs(folder: Path) -> list[str]:
    """The names in ``folder``, sorted ([] when it does not exist)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A valid PNG header claiming a huge picture, with almost no data behind it."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture
def mixed_photos(tmp_path: Path) -> Path:
    """A batch's content folder: three photos of three shapes and one broken JPEG."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate([(48, 32), (32, 48), (40, 40)]):
        make_content(size).save(folder / f"p{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    return folder


@pytest.fixture
def two_styles(tmp_path: Path) -> Path:
    """A style folder: red.png and green.png."""
    folder = tmp_path / "styles"
    folder.mkdir()
    make_style().save(folder / "red.png")
    make_style(colours=((250, 250, 250), (10, 120, 10))).save(folder / "green.png")
    return folder

# ---------------------------------------------------------------- the preview, over HTTP and in a subprocess


def fetch(url, method="GET", headers=None):
    """(status, headers, body), 4xx and 5xx included."""
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=HANG_GUARD) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


LONG = ["--weights", "random", "--size", "32", "--min-size", "0", "--iterations", "20000", "--tolerance", "0"]


def start(args, cwd):
    """The CLI with --preview in a subprocess; returns (process, base URL, token) once it printed the URL."""
    proc = subprocess.Popen([sys.executable, "-m", "stylize", *map(str, args), "--preview"], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    line = proc.stderr.readline()
    assert line.startswith("Preview: http://127.0.0.1:"), line
    url = line.split(" ", 1)[1].strip()
    base, token = url.split("/?token=")
    return proc, base, token


def wait_for(check, timeout=HANG_GUARD):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def status(base, token):
    code, _, body = fetch(f"{base}/status.json?token={token}")
    assert code == 200
    return json.loads(body)


@pytest.fixture
def finish():
    """Kills what a failed test left running."""
    procs = []
    yield procs.append
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


# ---------------------------------------------------------------- exact tiles: objectives on smooth random images


def smooth_image(h, w, seed):
    """A smooth random picture with a little noise: features vary everywhere, as in a photo."""
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, h // 8 + 1, w // 8 + 1,
                                                        generator=torch.Generator().manual_seed(seed)),
                                             size=(h, w), mode="bilinear", align_corners=False)
    return (smooth + 0.05 * torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(seed + 1))).clamp(0, 1)


TILING_CASES = {
    # model, style layers, content layer, image size: halos of 12 to 144 px against tiles of 32-64 px
    "vgg19-shallow": ("vgg19", ("relu1_1", "relu2_1", "relu3_1"), "relu2_2", (96, 80), 32),
    "vgg19-paper": ("vgg19", ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "relu4_2", (176, 160), 80),
    "resnet50": ("resnet50", ("relu", "layer1", "layer2"), "layer2", (160, 144), 48),
    # the default's shape: content deeper than every style layer (a tiled first pass stops short)
    "vgg19-deep-content": ("vgg19", ("relu1_1", "relu2_1"), "relu3_1", (96, 80), 32),
}


def tiling_objective(model, style_layers, content_layer, size, device="cpu", **weights):
    """(Objective in float64 with random weights, its config): tiles must match the whole to 1e-9."""
    cfg = validate(StylizeConfig(model=model, style_layers=style_layers, content_layer=content_layer,
                                 weights="random", **weights), 1)
    extractor = build_extractor(model, load_weights(model, "random"), [*style_layers, content_layer])
    extractor = extractor.to(device).double()
    content, style = smooth_image(*size, seed=1).to(device).double(), smooth_image(64, 64, seed=2).to(device).double()
    return Objective(extractor, content, style_targets([style_moments(extractor, style, cfg)], cfg), cfg), cfg


# ---------------------------------------------------------------- the paper's formulas, written plainly
# References for the objective's terms, which compute the same from sums a tile can add up.


def gram_matrix(features):
    """(B, C, H, W) -> (B, C, C): channel inner products over positions, divided by C*H*W."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def content_loss(features, target):
    return relative_mse(features, target)


def style_loss(features, target_gram):
    return relative_mse(gram_matrix(features), target_gram)


def total_variation(image):
    """Mean squared difference of neighbouring pixels (L2 TV), in [0, 1] pixel units."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def heic(path, image):
    """``image`` saved as an iPhone would (HEIC), at ``path``."""
    from stylize.media.imageio import register_plugins

    assert register_plugins()  # pillow-heif is a dependency: Pillow writes and reads HEIC with it
    image.save(path, quality=95)
    return path


def without_heif_plugin(monkeypatch):
    """Pillow as it is without pillow-heif: no HEIF opener, and none registered on use."""
    import stylize.media.imageio

    monkeypatch.setattr(stylize.media.imageio, "register_plugins", lambda: False)
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != "HEIF"])
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "HEIF"})
