"""LossCurves: the losses of a run over its iterations, from its progress reports."""

from stylize.core.progress import Progress
from stylize.watch.curves import LossCurves


def _losses(total):
    return {"content": total / 2, "style": total / 4, "tv": total / 4, "total": total}


def _feed(curves):
    for step, scale, size in [(1, 1, 64), (2, 1, 64), (3, 2, 128), (4, 2, 128)]:
        curves.record(Progress(step, 4, _losses(10.0 / step), 0.1 * step, size=size, scale=(scale, 2)))


def test_points_and_the_first_iteration_of_each_scale():
    curves = LossCurves()
    _feed(curves)
    assert [p["step"] for p in curves.since(0)] == [1, 2, 3, 4]
    assert curves.since(2) == [{"step": 3, **_losses(10.0 / 3)}, {"step": 4, **_losses(2.5)}]
    assert curves.scale_starts() == [{"step": 1, "scale": 1, "size": 64}, {"step": 3, "scale": 2, "size": 128}]
    assert curves.terms() == ["content", "style", "tv", "total"]


def test_tile_reports_are_not_points_and_the_done_report_is_the_final_losses():
    curves = LossCurves()
    _feed(curves)
    curves.record(Progress(4, 4, _losses(2.5), 1.0, size=128, tile=(1, 4), scale=(2, 2)))
    curves.record(Progress(4, 4, _losses(2.0), 1.0, size=128, done=True, scale=(2, 2)))
    assert len(curves.since(0)) == 4
    assert curves.final == _losses(2.0)


def test_an_extra_term_is_a_curve_of_its_own_and_total_stays_last():
    curves = LossCurves()
    curves.record(Progress(1, 1, {"content": 1.0, "total": 3.0, "temporal": 2.0}, 0.1, size=32))
    assert curves.terms() == ["content", "temporal", "total"]
