"""The optimizer loop (optimize.py): scales in order, progress, plateau, L-BFGS warm start and history, NaN recovery."""

import pytest
import torch

from stylize import StylizeConfig, run
from stylize.config import validate
from stylize.core.objective import Objective
from stylize.core.optimize import make_optimizer, next_start, upsample

from conftest import EXAMPLES, FAST, make_content, make_style, only_line


def _sizes_seen(config, content):
    seen = []
    result = run(content, make_style(), config=config,
                 on_progress=lambda p: p.done or seen.append((p.size, p.step, p.total)))
    return result, seen


def test_scales_run_in_order_and_keep_the_aspect_ratio():
    config = StylizeConfig(size=128, min_size=32, coarse_iterations=2, iterations=3, weights="random")
    result, seen = _sizes_seen(config, make_content((48, 32)))
    assert [s for s, _, _ in seen] == [32, 32, 32, 32, 64, 64, 128, 128, 128]  # the coarsest gets twice
    assert [step for _, step, _ in seen] == list(range(1, 10)) and seen[-1][2] == 9
    assert result.image.size == (128, 85)
    assert result.steps == 9


def test_a_coarse_scale_too_small_for_the_network_is_left_out():
    # 120x30 at 24 px long edge is 24x6: too small for relu4_2 (8 px), so that scale is skipped.
    config = StylizeConfig(size=96, min_size=24, coarse_iterations=2, iterations=2, weights="random")
    result, seen = _sizes_seen(config, make_content((120, 30)))
    assert sorted({s for s, _, _ in seen}) == [48, 96]
    assert result.image.size == (96, 24)


def test_the_last_progress_is_done_and_has_the_results_losses():
    seen = []
    config = StylizeConfig(size=64, min_size=32, coarse_iterations=2, iterations=2, weights="random")
    result = run(make_content(), make_style(), config=config, on_progress=seen.append)
    last = seen[-1]
    assert last.done is True
    assert last.step == last.total == 6
    assert last.losses == result.losses
    assert set(last.losses) == {"content", "style", "tv", "total"}
    assert not any(p.done for p in seen[:-1])  # only the last report says so


def test_plateau_ends_a_scale_early(images):
    seen = []
    config = StylizeConfig(size=32, iterations=200, tolerance=0.5, weights="random")
    result = run(images["content"], images["style"], config=config, on_progress=lambda p: seen.append(p.step))
    assert result.steps < 200
    assert seen[-1] == 200  # the progress bar still ends full


@pytest.mark.parametrize("history", [3, 17])
def test_history_reaches_torchs_lbfgs(history):
    x = torch.zeros(1, 3, 4, 4, requires_grad=True)
    optimizer = make_optimizer(x, validate(StylizeConfig(history=history), 1), 1.0)
    assert isinstance(optimizer, torch.optim.LBFGS)
    assert optimizer.defaults["history_size"] == history


def test_a_run_builds_lbfgs_with_the_configs_history(monkeypatch):
    sizes, lbfgs = [], torch.optim.LBFGS

    def recording(*args, **kwargs):
        sizes.append(kwargs.get("history_size"))
        return lbfgs(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "LBFGS", recording)
    run(make_content(), make_style(), config=StylizeConfig(size=32, iterations=2, history=7, weights="random"))
    assert sizes and set(sizes) == {7}


def _first_step_evaluations(monkeypatch, warm: bool) -> int:
    """Objective evaluations spent by the first L-BFGS step of the second scale."""
    import stylize.core.optimize

    calls = [0]
    forward = Objective.forward

    def counting(self, image):
        calls[0] += 1
        return forward(self, image)

    monkeypatch.setattr(Objective, "forward", counting)
    if not warm:
        monkeypatch.setattr(stylize.core.optimize, "first_lr", lambda evaluate, lr, curvature: lr)
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
    assert only_line(result).startswith("Error: the loss stayed NaN/inf at iteration 1 (32 px) after 3 restarts")
    assert not out.exists()


def test_bf16_nan_falls_back_to_fp32(monkeypatch, images):
    features = Objective.features

    def broken_in_bf16(self, image, upto=None):
        out = features(self, image, upto)
        return {k: v * float("nan") for k, v in out.items()} if self.bf16 else out

    monkeypatch.setattr(Objective, "features", broken_in_bf16)
    config = StylizeConfig(size=32, iterations=4, precision="bf16", weights="random")
    result = run(images["content"], images["style"], config=config)
    assert result.precision == "fp32"
    assert result.notices == ["the loss became NaN/inf at iteration 1 (32 px) in bf16; continued in fp32"]
    assert result.steps == 4
    assert all(v == v for v in result.losses.values())


def test_a_finer_scale_starts_from_the_sharp_photo_plus_the_coarser_scales_change():
    g = torch.Generator().manual_seed(0)
    photo = torch.rand(1, 3, 32, 48, generator=g)
    coarse_photo = torch.nn.functional.avg_pool2d(photo, 2)
    change = 0.1 * torch.randn(1, 3, 16, 24, generator=g)
    cfg = validate(StylizeConfig(), 1)
    # Nothing changed at the coarser scale: the finer one starts from the photo itself, not a blur.
    assert torch.equal(next_start(cfg, coarse_photo, coarse_photo, photo), photo)
    result = coarse_photo + change  # a coarse result may stray outside [0, 1]: its saved picture does not
    start = next_start(cfg, result, coarse_photo, photo)
    made = result.clamp(0, 1) - coarse_photo
    expected = photo + torch.nn.functional.interpolate(made, size=(32, 48), mode="bicubic", align_corners=False)
    inside = (expected > 0.01) & (expected < 0.99)  # (the start is clamped to [0, 1])
    assert torch.allclose(start[inside], expected[inside], atol=1e-6)
    assert start.min() >= 0 and start.max() <= 1
    # A run that did not start from the photo is upsampled as it is.
    noise = validate(StylizeConfig(init="noise"), 1)
    assert torch.equal(next_start(noise, result, coarse_photo, photo), upsample(result, photo))
