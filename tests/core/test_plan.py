"""Planning a run (plan.py): scales, whole or tiled within a memory budget, history, refusals."""

import pytest
import torch

import stylize.core.memory
from stylize import BadInputError, StylizeConfig
from stylize.config import validate
from stylize.core.plan import MIN_HISTORY, Speed, plan_run, schedule

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
    # the largest tile that fits at its history: one 16 px step larger would not
    bigger = _plan(budget=5 * GIB, size=2048, history=last.history, tile=last.tiles.tile + 16, force=True).scales[-1]
    assert bigger.peak > 5 * GIB or bigger.history < last.history


@pytest.mark.parametrize("size, budget", [(2048, 5 * GIB), (4096, 16 * GIB), (8192, 16 * GIB)])
def test_a_tiled_scale_takes_the_history_with_the_least_work(size, budget):
    """History costs memory, not quality: the plan spends it on fewer, larger tiles."""
    chosen = _plan(budget=budget, size=size).scales[-1]
    for history in (100, 50, 20, 10, MIN_HISTORY):
        other = _plan(budget=budget, size=size, history=history).scales[-1]
        assert chosen.work <= other.work
        if other.work == chosen.work:
            assert chosen.history >= other.history  # among equals, the longest history


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


def test_a_tiled_scale_counts_each_crop_and_the_first_pass():
    plan = _plan(budget=5 * GIB, size=2048)
    last, whole = plan.scales[-1], _plan(size=2048).scales[-1]
    crops = len(last.tiles.windows)
    assert last.passes == pytest.approx(whole.passes * (crops + 0.5 * (crops - 1)))
    assert last.work > whole.work * (1 + 0.5 * (crops - 1) / crops)  # halos, and the first pass
    speed = Speed(per_pass=2.0, per_pixel=1e-6)
    assert plan.seconds(speed) == pytest.approx(sum(s.passes * 2.0 + s.work * 1e-6 for s in plan.scales))
