"""Progress reports (core/progress.py): the ETA, a pure function of the schedule; the one place a report is made."""

from types import SimpleNamespace

import pytest

from stylize.core.progress import Schedule, eta

# Two scales of 10 iterations; the finer one's iterations cost 4x (the plan's pixel-evaluations).
SCALES = [SimpleNamespace(size=128, iterations=10, work=100.0), SimpleNamespace(size=256, iterations=10, work=400.0)]


def test_the_eta_is_the_work_left_at_the_rate_of_the_work_done():
    assert eta(SCALES, 0, 0, 0.0) is None  # nothing done: no rate yet
    assert eta(SCALES, 5, 0, 5.0) == pytest.approx(5.0 / 50 * (50 + 400))  # 1 s per 10 units of work
    assert eta(SCALES, 20, 1, 50.0) == 0.0


def test_a_plateau_that_skipped_the_rest_of_a_scale_counts_it_as_done():
    # 12 iterations behind, on the second scale: the first is finished (a plateau ended it early).
    assert eta(SCALES, 12, 1, 18.0) == pytest.approx(18.0 / 180 * 320)


def test_the_schedule_makes_every_report():
    seen = []
    at = Schedule(SCALES, seen.append)
    assert at.total == 20
    at.position, at.index = 15, 1
    at.tell({"total": 2.0}, tile=(3, 8))
    at.tell({"total": 1.5}, done=True)
    tile, done = seen
    assert (tile.step, tile.total, tile.size, tile.scale, tile.tile) == (15, 20, 256, (2, 2), (3, 8))
    assert tile.eta is not None and done.eta is None and done.done and done.losses == {"total": 1.5}
    Schedule(SCALES).tell({"total": 1.0})  # no callback: nothing to tell
