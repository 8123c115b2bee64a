"""The library API: in-memory images, Result.save, resolved settings, Ctrl-C, tiled runs."""

import io
import json
from dataclasses import replace

import pytest
from PIL import Image, ImageCms

from stylize import Interrupted, StylizeConfig, run
from stylize.objective import Objective

PLUMBING = StylizeConfig(size=32, iterations=2, weights="random")


def test_an_rgba_image_in_memory_is_composited_on_white_like_a_file(images, tmp_path):
    rgba = Image.new("RGBA", (48, 32), (255, 0, 0, 0))  # red, fully transparent: white to the run
    rgba.paste((0, 0, 255, 255), (10, 10, 30, 20))
    path = tmp_path / "rgba.png"
    rgba.save(path)
    from_memory = run(rgba, images["style"], config=PLUMBING)
    from_file = run(path, images["style"], config=PLUMBING)
    assert from_memory.image.tobytes() == from_file.image.tobytes()
    assert from_memory.content == "(image)" and from_file.content == str(path)


def test_result_save_writes_what_the_cli_writes(images, tmp_path):
    result = run(images["content"], [images["style"]], config=PLUMBING)
    out = tmp_path / "r.png"
    result.save(out, note="mine")
    with Image.open(out) as im:
        settings = json.loads(im.text["stylize"])
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert settings["content"] == str(images["content"]) and settings["styles"] == [str(images["style"])]
    assert settings["config"] == result.config.to_dict() and settings["note"] == "mine"


def test_the_result_records_what_ran_not_auto(images):
    result = run(images["content"], images["style"], config=PLUMBING)
    assert result.config.device == "cpu" == result.device
    assert result.config.precision == result.precision != "auto"


def test_ctrl_c_before_the_first_step_is_no_result(images, monkeypatch):
    def stopped(self, image):
        raise KeyboardInterrupt

    monkeypatch.setattr(Objective, "forward", stopped)
    with pytest.raises(KeyboardInterrupt) as caught:
        run(images["content"], images["style"], config=PLUMBING)
    assert not isinstance(caught.value, Interrupted)


@pytest.mark.parametrize("at_step", [1, 4, 5])  # in the first scale, at its last step, in the last scale
def test_ctrl_c_anywhere_after_a_step_keeps_the_last_image(images, at_step):
    # The signal lands wherever the process is: most often in the progress bar or in a
    # --save-every snapshot, not inside the optimizer step (CI once caught it there).
    def on_progress(progress):
        if progress.step == at_step:
            raise KeyboardInterrupt

    config = StylizeConfig(size=64, min_size=32, coarse_iterations=2, iterations=2, weights="random")
    with pytest.raises(Interrupted) as caught:
        run(images["content"], images["style"], config=config, on_progress=on_progress)
    assert caught.value.step == at_step
    assert caught.value.image.size == (64, 43)  # the output's size, even from the coarse scale
    assert caught.value.result.steps == at_step


def test_a_tiled_run_reports_tiles_and_an_eta(images):
    seen = []
    config = StylizeConfig(size=128, min_size=64, coarse_iterations=2, iterations=2, weights="random", tile=64)
    result = run(images["content"], images["style"], config=config, on_progress=seen.append)
    tiles = [p.tile for p in seen if p.tile is not None]
    assert tiles and all(0 < done <= total for done, total in tiles)
    assert {total for _, total in tiles} == {2 * 4}  # 128x85 in 2x2 tiles of <= 64 px: 2 passes of 4 crops
    steps = [p for p in seen if p.tile is None and not p.done]
    assert [p.scale for p in steps] == [(1, 2)] * 4 + [(2, 2)] * 2
    assert steps[0].eta is not None and steps[-1].eta == 0
    assert result.image.size == (128, 85)


@pytest.mark.parametrize("optimizer, iterations", [("lbfgs", 8), ("adam", 30)])
def test_a_forced_tiled_run_ends_near_the_untiled_one(images, optimizer, iterations):
    # Float rounding differs between the two (sums in another order), and L-BFGS's line search
    # amplifies any difference: a 1e-6 nudge of the starting image alone moves the loss after
    # 15 iterations by about 1.4%. Within 8 iterations the two runs still track each other.
    config = StylizeConfig(size=96, min_size=0, iterations=iterations, weights="bundled", precision="fp32",
                           optimizer=optimizer, tolerance=0)
    whole = run(images["content"], images["style"], config=config)
    tiled = run(images["content"], images["style"], config=replace(config, tile=64))
    assert abs(tiled.losses["total"] / whole.losses["total"] - 1) < 0.01
