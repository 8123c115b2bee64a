"""Planning a run (plan.py): scales, whole or tiled within a memory budget, history, refusals."""

import itertools

import pytest
import torch

import stylize.core.memory
from stylize import BadInputError, StylizeConfig
from stylize.config import validate
from stylize.core.plan import EXTRA_EVALUATIONS, MIN_HISTORY, Speed, convolution_share, plan_run, scale_plan, schedule
from stylize.core.tiling import plan_grid
from stylize.net.layers import halo, stride

CPU = torch.device("cpu")
GIB = 2**30


@pytest.fixture(autouse=True)
def steady_process(monkeypatch):
    """The estimates count the process's resident size, which moves as tests run: pin it."""
    monkeypatch.setattr(stylize.core.memory, "_process_bytes", lambda: 800 * 2**20)


@pytest.mark.parametrize("size, min_size, expected", [
    (512, 128, [(128, 14), (256, 7), (512, 3)]),
    (512, 0, [(512, 3)]),
    (512, 600, [(512, 3)]),
    (300, 128, [(150, 14), (300, 3)]),
    (1000, 200, [(250, 14), (500, 7), (1000, 3)]),
])
def test_schedule_halves_down_to_min_size(size, min_size, expected):
    cfg = StylizeConfig(size=size, min_size=min_size, coarse_iterations=7, iterations=3)
    assert schedule(cfg) == expected


def _plan(budget=20 * GIB, photo=(3000, 2000), **options):
    return plan_run(validate(StylizeConfig(**options), 1), photo, "bf16", CPU, budget)


def test_a_run_that_fits_runs_whole():
    plan = _plan(size=512)
    assert [s.size for s in plan.scales] == [128, 256, 512]
    assert not any(s.tiled for s in plan.scales) and plan.peak < 20 * GIB


def test_a_scale_that_fits_with_a_shorter_history_runs_whole():
    plan = _plan(budget=8 * GIB, size=2048)
    last = plan.scales[-1]
    assert not last.tiled and last.peak <= 8 * GIB and MIN_HISTORY <= last.history < 100
    candidates = [100, 50, 20, 10, MIN_HISTORY]
    longer = candidates[candidates.index(last.history) - 1]  # the next history the plan tries
    assert _plan(budget=8 * GIB, size=2048, history=longer).scales[-1].history < longer


def test_a_scale_that_does_not_fit_is_tiled_within_the_budget():
    plan = _plan(budget=5 * GIB, size=2048)
    last = plan.scales[-1]
    assert last.tiled and last.peak <= 5 * GIB
    assert (last.width, last.height) == (2048, 1365)
    assert not plan.scales[0].tiled  # the coarse scales still run whole


@pytest.mark.parametrize("size, budget", [(1024, 2 * GIB), (2048, 5 * GIB), (4096, 16 * GIB)])
def test_a_tiled_scale_takes_the_grid_with_the_least_work_that_fits(size, budget):
    """Any rows x columns at any history, strips included: none that fits costs less work."""
    chosen = _plan(budget=budget, size=size).scales[-1]
    cfg = validate(StylizeConfig(size=size), 1)
    layers = [*cfg.style_layers, cfg.content_layer]
    margin, step = halo(cfg.model, layers), max(stride(cfg.model, layer) for layer in layers)
    fixed = stylize.core.memory.fixed_bytes(cfg, CPU)
    fitting = []
    for rows, cols, history in itertools.product(range(1, 9), range(1, 9), (100, 50, 20, 10, MIN_HISTORY)):
        grid = plan_grid(chosen.height, chosen.width, rows, cols, margin, step)
        other = scale_plan(cfg, size, (chosen.width, chosen.height), chosen.iterations, "bf16", fixed, 0, history, grid)
        if other.peak <= budget:
            fitting.append(other)
    assert chosen.tiled and chosen.peak <= budget and not any(not other.tiled for other in fitting)
    assert chosen.work == min(other.work for other in fitting)


def test_a_wide_image_that_needs_few_tiles_is_cut_in_strips():
    """1024 x 683 px where square tiles would need 2 x 2: strips (halo on two sides) cost less
    than squares (halo on two to four), though each strip is larger."""
    for budget in (int(1.6 * GIB), int(1.8 * GIB), 2 * GIB, int(2.2 * GIB)):
        last = _plan(budget=budget, size=1024).scales[-1]
        if last.tiled and len(last.tiles.windows) <= 3:
            break
    else:
        pytest.fail("no budget gave a plan of 2 or 3 tiles")
    assert {w.top for w in last.tiles.windows} == {0} and {w.bottom for w in last.tiles.windows} == {last.height}
    squares = plan_grid(last.height, last.width, 2, 2, last.tiles.halo, 8)
    assert sum((w.bottom - w.top) * (w.right - w.left) for w in last.tiles.windows) < \
        sum((w.bottom - w.top) * (w.right - w.left) for w in squares.windows)


def test_huge_sizes_trade_history_for_tiles():
    plan = _plan(budget=16 * GIB, size=8192)
    last = plan.scales[-1]
    assert last.tiled and last.peak <= 16 * GIB
    assert MIN_HISTORY <= last.history < 100


def test_a_forced_tile_size():
    plan = _plan(size=512, tile=128)
    assert all(s.tiled for s in plan.scales[1:]) and plan.scales[-1].tiles.tile == 128


def test_no_plan_fits_is_one_clear_refusal():
    with pytest.raises(BadInputError) as caught:
        _plan(budget=GIB, size=8192, max_memory=GIB)
    message = str(caught.value)
    assert message.startswith("size 8192: at ")
    assert " of memory on cpu, more than the 1.0 GiB allowed by max_memory; lower size" in message
    forced = _plan(budget=GIB, size=8192, max_memory=GIB, force=True)
    assert forced.peak > GIB  # force runs the smallest plan anyway


def test_a_coarse_scale_too_small_for_the_network_is_left_out():
    # 120x30 at 24 px long edge is 24x6: too small for relu4_2 (8 px), so that scale is skipped.
    plan = _plan(photo=(120, 30), size=96, min_size=24)
    assert [s.size for s in plan.scales] == [48, 96]


def test_the_time_model_has_a_fixed_cost_per_pass():
    gpu = Speed.fit((256**2, 0.050), (1024**2, 0.062))  # a device far from busy at 256 px
    assert gpu.per_pass == pytest.approx(0.0492) and gpu.per_pixel == pytest.approx(0.012 / (1024**2 - 256**2))
    cpu = Speed.fit((256**2, 0.26), (512**2, 1.00))
    assert cpu.seconds(1, 1024**2) == pytest.approx(0.0133 + 1024**2 * 0.74 / (512**2 - 256**2), rel=1e-3)
    noisy = Speed.fit((256**2, 0.30), (512**2, 0.25))  # the larger pass took less: no line to fit
    assert (noisy.per_pass, noisy.per_pixel) == (0.0, 0.25 / 512**2)


def test_a_scale_costs_an_evaluation_per_iteration_and_its_setup():
    plan = _plan(size=512)
    for scale in plan.scales:  # whole: one pass of the image per evaluation
        assert scale.passes == scale.iterations + EXTRA_EVALUATIONS
        assert scale.work == (scale.iterations + EXTRA_EVALUATIONS) * scale.width * scale.height
    later = plan.scales[-1].with_iterations(10)  # a video's later frame: its own setup too
    assert later.passes == 10 + EXTRA_EVALUATIONS and later.work == later.passes * later.width * later.height


def test_a_tiled_scale_counts_each_crop_and_the_first_pass():
    plan = _plan(budget=5 * GIB, size=2048)
    last, whole = plan.scales[-1], _plan(size=2048).scales[-1]
    crops, again = len(last.tiles.windows), 0.5 * 0.867  # the first pass: to relu4_1 of relu4_2
    assert last.passes == pytest.approx(whole.passes * (crops + again * (crops - 1)), rel=1e-3)
    assert last.work > whole.work * (1 + again * (crops - 1) / crops)  # halos, and the first pass
    speed = Speed(per_pass=2.0, per_pixel=1e-6)
    assert plan.seconds(speed) == pytest.approx(sum(s.passes * 2.0 + s.work * 1e-6 for s in plan.scales))


def test_the_first_pass_costs_the_convolutions_up_to_the_deepest_style_layer():
    """VGG19's relu4_1 comes 0.87 of the way to relu4_2 (timed: 0.81 s of 0.94 s at 1024 px)."""
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2")
    assert convolution_share("vgg19", "relu4_1", layers) == pytest.approx(0.867, abs=0.001)
    assert convolution_share("vgg19", "relu4_2", layers) == 1.0
    assert convolution_share("vgg19", "relu1_1", layers) < 0.01  # 3 input channels: next to nothing
