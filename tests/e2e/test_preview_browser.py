"""The preview page in a real browser: headless Chromium loads it during a run."""

import io
import os

import pytest
from PIL import Image, ImageStat

from browser import Browser, chromium
from conftest import LONG, start, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium() is None, reason="headless Chromium is not installed"
                                 " (Debian: apt-get install chromium; .ci/run installs it where it can)")]

# Resolves once the page shows an image and a curve of a few points: their boxes on the page.
RENDERED = """new Promise((resolve, reject) => {
  const started = Date.now();
  (function check() {
    const img = document.getElementById("image"), plot = document.getElementById("plot");
    if (img && img.naturalWidth > 0 && Number(plot.dataset.points) >= 5) {
      const box = (e) => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; };
      resolve({image: box(img), plot: box(plot), points: Number(plot.dataset.points),
               natural: [img.naturalWidth, img.naturalHeight], state: document.getElementById("state").textContent});
    } else if (Date.now() - started > 60000) reject(new Error("the page showed no image or curve in 60 s"));
    else setTimeout(check, 100);
  })();
})"""


def crop(shot: Image.Image, box) -> Image.Image:
    x, y, w, h = (round(v) for v in box)
    return shot.crop((x, y, x + w, y + h)).convert("RGB")


def count(im: Image.Image, rgb, tolerance=40) -> int:
    data = im.tobytes()
    return sum(1 for i in range(0, len(data), 3)
               if all(abs(data[i + k] - rgb[k]) <= tolerance for k in range(3)))


def test_the_page_renders_the_image_and_the_loss_curve(images, tmp_path):
    proc, base, token = start([images["content"], images["style"], *LONG, "-o", tmp_path / "out.png"], tmp_path)
    try:
        wait_for(lambda: proc.poll() is None)
        with Browser(1200, 700) as browser:
            browser.goto(f"{base}/?token={token}")
            seen = browser.evaluate(RENDERED)
            shot = Image.open(io.BytesIO(browser.screenshot()))
        assert seen["natural"] == [32, 21] and seen["state"] == "running" and seen["points"] >= 5
        picture = crop(shot, seen["image"])
        assert max(ImageStat.Stat(picture).stddev) > 10  # a stylized image, not a blank box
        assert picture.getbbox() is not None
        plot = crop(shot, seen["plot"])
        assert count(plot, (0xd6, 0x27, 0x28)) > 50  # the style curve's red line was drawn
        assert count(plot, (0x22, 0x22, 0x22), tolerance=20) > 50  # and the total's
        if os.environ.get("STYLIZE_SCREENSHOT"):  # to look at it: STYLIZE_SCREENSHOT=shot.png pytest ...
            shot.save(os.environ["STYLIZE_SCREENSHOT"])
    finally:
        proc.kill()
        proc.communicate()
