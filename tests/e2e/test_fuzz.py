"""Hostile inputs: every file ends in a stylized image or one error line with exit code 2.

Property-based (hypothesis), bounded so the whole file runs in well under two minutes.
"""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import make_content

FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FORMATS = ["PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP"]
QUICK = ["--weights", "random", "--size", "32", "--iterations", "1", "-q"]


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    make_content((40, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def _outcome(cli, tmp_path, data: bytes, name: str = "input.bin"):
    """Run the command on ``data`` as the content image; check the contract; return the exit code."""
    content, out = tmp_path / name, tmp_path / "out.png"
    content.write_bytes(data)
    out.unlink(missing_ok=True)
    result = cli(content, tmp_path / "style.png", "-o", out, *QUICK)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        assert max(Image.open(out).size) == 32
    else:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: content image '{content}': "), result.stderr
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    return result.exit_code


@pytest.fixture
def style(tmp_path):
    make_content((32, 32)).save(tmp_path / "style.png")


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(cli, tmp_path, style, data):
    _outcome(cli, tmp_path, data)


@FUZZ
@given(fmt=st.sampled_from(FORMATS), cut=st.floats(0.0, 0.999))
def test_truncated_files(cli, tmp_path, style, fmt, cut):
    data = _encoded(fmt)
    _outcome(cli, tmp_path, data[: int(len(data) * cut)], f"cut.{fmt.lower()}")


@FUZZ
@given(fmt=st.sampled_from(FORMATS), keep=st.integers(8, 64), garbage=st.binary(min_size=1, max_size=512))
def test_valid_header_garbage_body(cli, tmp_path, style, fmt, keep, garbage):
    _outcome(cli, tmp_path, _encoded(fmt)[:keep] + garbage, f"garbage.{fmt.lower()}")


@pytest.mark.parametrize("size, code", [((1, 1), 0), ((1, 5000), 2), ((10000, 1), 2), ((3, 2), 0)])
def test_extreme_sizes(cli, tmp_path, style, size, code):
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 10, 200)).save(buffer, format="PNG")
    assert _outcome(cli, tmp_path, buffer.getvalue(), "extreme.png") == code


def _mode_image(mode: str) -> Image.Image:
    base = make_content((30, 20))
    if mode == "P+transparency":
        im = base.convert("P")
        im.info["transparency"] = 0
        return im
    if mode == "I;16":
        return Image.new("I;16", base.size, 40000)
    return base.convert(mode)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "P+transparency", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
def test_every_pillow_mode(cli, tmp_path, style, mode):
    buffer = io.BytesIO()
    fmt = "TIFF" if mode in ("CMYK", "F", "I") else "PNG"
    _mode_image(mode).save(buffer, format=fmt)
    assert _outcome(cli, tmp_path, buffer.getvalue(), f"mode.{fmt.lower()}") == 0


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_images_use_the_first_frame(cli, tmp_path, style, fmt):
    frames = [Image.new("RGB", (30, 20), c) for c in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100)
    assert _outcome(cli, tmp_path, buffer.getvalue(), f"anim.{fmt.lower()}") == 0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations(cli, tmp_path, style, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(buffer, format="JPEG", exif=exif)
    assert _outcome(cli, tmp_path, buffer.getvalue(), "exif.jpg") == 0
    upright = (20, 40) if orientation >= 5 else (40, 20)  # 5-8 swap width and height
    expected = (16, 32) if upright == (20, 40) else (32, 16)
    assert Image.open(tmp_path / "out.png").size == expected
