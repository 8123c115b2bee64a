"""--plot: the loss curves as a picture (matplotlib, the plot extra)."""

import importlib.util

import pytest
from PIL import Image

from stylize import BadInputError
from stylize.core.progress import Progress
from stylize.watch.curves import LossCurves
from stylize.watch.plot import check_plot, save_plot


def _history(points=30):
    curves = LossCurves()
    for step in range(1, points + 1):
        scale = 1 if step <= points // 2 else 2
        curves.record(Progress(step, points, {"content": 1 + step / 10, "style": 50 / step, "tv": 0.01,
                                                "total": 1 + step / 10 + 50 / step + 0.01}, 0.1 * step,
                                size=64 * scale, scale=(scale, 2)))
    return curves


def _reds(image):
    """How many pixels are the style curve's red (#d62728)."""
    data = image.convert("RGB").tobytes()
    return sum(1 for i in range(0, len(data), 3) if data[i] > 180 and data[i + 1] < 80 and data[i + 2] < 80)


def test_a_plot_is_a_picture_with_the_curves(tmp_path):
    path = tmp_path / "losses.png"
    save_plot(_history(), path, title="out.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (800, 450)
        assert _reds(im) > 200  # the style curve was drawn
    assert [p.name for p in tmp_path.iterdir()] == ["losses.png"]  # atomic: no temporary file left


def test_an_empty_history_is_still_a_plot(tmp_path):
    save_plot(LossCurves(), tmp_path / "empty.png")
    with Image.open(tmp_path / "empty.png") as im:
        assert _reds(im) == 0


@pytest.mark.parametrize("suffix", [".svg", ".pdf"])
def test_vector_formats(tmp_path, suffix):
    save_plot(_history(), tmp_path / f"losses{suffix}")
    head = (tmp_path / f"losses{suffix}").read_bytes()[:200]
    assert (b"<svg" in head) if suffix == ".svg" else head.startswith(b"%PDF")


def test_check_plot_names_what_is_wrong(tmp_path, monkeypatch):
    with pytest.raises(BadInputError, match=r"^plot: 'x.jpg': the plot is written as .png, .svg, .pdf; name it so$"):
        check_plot("x.jpg")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(BadInputError, match="'.*notes.txt' is not a folder"):
        check_plot(tmp_path / "notes.txt" / "x.png")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(BadInputError, match=r"^plot: needs matplotlib, which is not installed: pip install 'stylize\[plot\]'$"):
        check_plot(tmp_path / "x.png")
