"""Coarse-to-fine scales, bf16 with its fp32 fallback, plateau stopping."""

import pytest
import torch

import stylize.device
from conftest import EXAMPLES, make_content, make_style
from stylize import StylizeConfig, run
from stylize.device import resolve_precision
from stylize.optimize import schedule
from stylize.objective import Objective


@pytest.mark.parametrize("size, min_size, expected", [
    (512, 128, [(128, 7), (256, 7), (512, 3)]),
    (512, 0, [(512, 3)]),
    (512, 600, [(512, 3)]),
    (300, 128, [(150, 7), (300, 3)]),
    (1000, 200, [(250, 7), (500, 7), (1000, 3)]),
])
def test_schedule_halves_down_to_min_size(size, min_size, expected):
    cfg = StylizeConfig(size=size, min_size=min_size, coarse_iterations=7, iterations=3)
    assert schedule(cfg) == expected


def _sizes_seen(config, content):
    seen = []
    result = run(content, make_style(), config=config,
                 on_progress=lambda p: p.done or seen.append((p.size, p.step, p.total)))
    return result, seen


def test_scales_run_in_order_and_keep_the_aspect_ratio():
    config = StylizeConfig(size=128, min_size=32, coarse_iterations=2, iterations=3, weights="random")
    result, seen = _sizes_seen(config, make_content((48, 32)))
    assert [s for s, _, _ in seen] == [32, 32, 64, 64, 128, 128, 128]
    assert [step for _, step, _ in seen] == list(range(1, 8)) and seen[-1][2] == 7
    assert result.image.size == (128, 85)
    assert result.steps == 7


def test_a_coarse_scale_too_small_for_the_network_is_left_out():
    # 120x40 at 24 px long edge is 24x8: too small for relu5_1 (16 px), so that scale is skipped.
    config = StylizeConfig(size=96, min_size=24, coarse_iterations=2, iterations=2, weights="random")
    result, seen = _sizes_seen(config, make_content((120, 40)))
    assert sorted({s for s, _, _ in seen}) == [48, 96]
    assert result.image.size == (96, 32)


def test_precision_choice(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(stylize.device, "_cpu_has_bf16_units", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(stylize.device, "_cpu_has_bf16_units", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"


def test_bf16_nan_falls_back_to_fp32(monkeypatch, images):
    features = Objective.features

    def broken_in_bf16(self, image):
        out = features(self, image)
        return {k: v * float("nan") for k, v in out.items()} if self.bf16 else out

    monkeypatch.setattr(Objective, "features", broken_in_bf16)
    config = StylizeConfig(size=32, iterations=4, precision="bf16", weights="random")
    result = run(images["content"], images["style"], config=config)
    assert result.precision == "fp32"
    assert result.notices == ["the loss became NaN/inf at iteration 1 (32 px) in bf16; continued in fp32"]
    assert result.steps == 4
    assert all(v == v for v in result.losses.values())


def test_bf16_result_holds_up(images):
    losses = {}
    for precision in ("fp32", "bf16"):
        config = StylizeConfig(size=48, iterations=15, precision=precision)
        losses[precision] = run(images["content"], images["style"], config=config).losses["total"]
    assert losses["bf16"] < losses["fp32"] * 1.25


def test_plateau_ends_a_scale_early(images):
    seen = []
    config = StylizeConfig(size=32, iterations=200, tolerance=0.5, weights="random")
    result = run(images["content"], images["style"], config=config, on_progress=lambda p: seen.append(p.step))
    assert result.steps < 200
    assert seen[-1] == 200  # the progress bar still ends full


def _first_step_evaluations(monkeypatch, warm: bool) -> int:
    """Objective evaluations spent by the first L-BFGS step of the second scale."""
    import stylize.optimize

    calls = [0]
    forward = Objective.forward

    def counting(self, image):
        calls[0] += 1
        return forward(self, image)

    monkeypatch.setattr(Objective, "forward", counting)
    if not warm:
        monkeypatch.setattr(stylize.optimize.Loop, "_first_lr", lambda self, evaluate: self.lr)
    seen = []
    config = StylizeConfig(size=64, min_size=32, coarse_iterations=20, iterations=3)
    run(EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg", config=config,
        on_progress=lambda p: seen.append((p.size, calls[0])))
    before = [n for size, n in seen if size == 32][-1]
    return [n for size, n in seen if size == 64][0] - before


def test_the_next_scale_starts_l_bfgs_with_the_last_scales_step_size(monkeypatch):
    warm = _first_step_evaluations(monkeypatch, warm=True)
    monkeypatch.undo()
    cold = _first_step_evaluations(monkeypatch, warm=False)
    assert warm <= 2 < cold
