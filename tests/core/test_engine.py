"""The library API: in-memory images, Result.save, resolved settings, Ctrl-C, tiled runs."""

import io
import json
from dataclasses import replace

import pytest
from PIL import Image, ImageCms

from stylize import Interrupted, StopRun, StylizeConfig, run
from stylize.core.objective import Objective

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


@pytest.mark.parametrize("at_step", [1, 3])
def test_stop_run_from_a_callback_returns_the_image_so_far(images, at_step):
    # Coarse to fine (16 then 32 px): a stop at the coarse scale still gives the output's size.
    config = StylizeConfig(size=32, min_size=16, iterations=3, coarse_iterations=3, tolerance=0, weights="random")
    reports = []

    def on_progress(progress):
        reports.append(progress)
        if progress.step == at_step and not progress.done:
            raise StopRun

    result = run(images["content"], images["style"], config=config, on_progress=on_progress)
    assert result.stopped and result.steps == at_step
    assert result.image.size == (32, 21)
    last = reports[-1]  # the final losses, reported at the iteration and scale the run reached
    assert last.done and last.step == at_step and last.scale == (1, 2) and last.losses == result.losses
    assert result.settings()["stopped_at"] == at_step


def test_a_finished_run_is_not_stopped(images):
    result = run(images["content"], images["style"], config=PLUMBING)
    assert not result.stopped and "stopped_at" not in result.settings()


def test_progress_current_is_the_image_so_far_at_the_scales_size(images):
    config = StylizeConfig(size=32, min_size=16, iterations=2, coarse_iterations=2, tolerance=0, weights="random")
    seen = []
    run(images["content"], images["style"], config=config,
        on_progress=lambda p: seen.append((p.size, p.current and p.current())))
    sizes = [(size, image.size) for size, image in seen if image is not None]
    assert sizes == [(16, (16, 11))] * 4 + [(32, (32, 21))] * 2  # the coarsest scale gets twice its iterations
    assert seen[-1][1] is None  # the done report: the Result has the image
    assert seen[0][1].tobytes() != seen[1][1].tobytes()  # a copy of each iterate, not a view of one
