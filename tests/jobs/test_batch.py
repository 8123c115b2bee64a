"""The batch module: the work list, shards (K/N and array jobs), failures isolated, Ctrl-C."""

from pathlib import Path

import pytest

import stylize.jobs.batch
from stylize import BadInputError, StopRun, StylizeConfig
from stylize.jobs.batch import Item, batch, expand, folds_case, image_files, output_name, parse_shard, shard, work_list

from conftest import make_style, outputs


@pytest.mark.parametrize("where", ["progress", "item"])
def test_ctrl_c_anywhere_in_a_batch_keeps_what_is_done(mixed_photos, two_styles, tmp_path, where):
    # The signal lands wherever the process is: in an image's steps or in the bookkeeping
    # after an image (log line, outer bar). Either way: a summary, no half-written file.
    (mixed_photos / "broken.jpg").unlink()
    items = work_list(image_files(mixed_photos), [two_styles / "red.png"], tmp_path / "out", ext="png")
    config = StylizeConfig(size=32, iterations=2, weights="random")
    seen = []

    def on_item(result):
        seen.append(result)
        if where == "item":
            raise KeyboardInterrupt

    def on_progress(item, progress):
        if where == "progress" and seen:
            raise KeyboardInterrupt

    summary = batch(items, config, on_item=on_item, on_progress=on_progress)
    assert summary.interrupted and summary.line() == "1 done, 0 skipped, 0 failed (interrupted)"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [items[0].output.name]


def test_plan_names_outputs_and_mirrors_sub_folders(tmp_path):
    contents = [tmp_path / "in" / "a.png", tmp_path / "in" / "trip" / "b.jpg"]
    styles = [tmp_path / "wave.jpg", tmp_path / "scream.png"]
    items = work_list(contents, styles, tmp_path / "out", content_root=tmp_path / "in")
    assert [i.output.relative_to(tmp_path / "out").as_posix() for i in items] == [
        "a__wave+scream.jpg", "trip/b__wave+scream.jpg"]
    each = work_list(contents[:1], styles, tmp_path / "out", each_style=True, name="{content}-{ext}-{style}", ext="png")
    assert [i.output.name for i in each] == ["a-png-wave.png", "a-png-scream.png"]
    assert [i.styles for i in each] == [(styles[0],), (styles[1],)]


def test_two_items_writing_one_file_is_refused(tmp_path):
    with pytest.raises(BadInputError) as caught:
        work_list([tmp_path / "a.png", tmp_path / "a.jpg"], [tmp_path / "s.png"], tmp_path / "out")
    assert str(caught.value) == (f"name: two items would both write '{tmp_path}/out/a__s.jpg'; add {{ext}} to the"
                                 " template (the content file's extension) or rename one input")
    ok = work_list([tmp_path / "a.png", tmp_path / "a.jpg"], [tmp_path / "s.png"], tmp_path / "out", name="{content}.{ext}")
    assert [i.output.name for i in ok] == ["a.png.jpg", "a.jpg.jpg"]


def test_outputs_differing_only_in_case_clash_where_the_disk_folds_case(tmp_path, monkeypatch):
    contents, styles = [tmp_path / "Cat.jpg", tmp_path / "cat.jpg"], [tmp_path / "s.png"]
    monkeypatch.setattr(stylize.jobs.batch, "folds_case", lambda folder: False)  # Linux's disks
    assert [i.output.name for i in work_list(contents, styles, tmp_path / "out")] == ["Cat__s.jpg", "cat__s.jpg"]
    monkeypatch.setattr(stylize.jobs.batch, "folds_case", lambda folder: True)  # macOS's and Windows' disks
    with pytest.raises(BadInputError) as caught:
        work_list(contents, styles, tmp_path / "out")
    assert str(caught.value) == (f"name: two items would both write '{tmp_path}/out/cat__s.jpg' and"
                                 f" '{tmp_path}/out/Cat__s.jpg' (one file on this disk); add {{ext}} to the"
                                 " template (the content file's extension) or rename one input")


def test_folds_case_asks_the_disk_and_leaves_nothing(tmp_path):
    (tmp_path / "probe").write_text("")
    assert folds_case(tmp_path / "not" / "yet") == (tmp_path / "PROBE").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["probe"]


def test_hidden_files_and_the_systems_litter_are_not_images(tmp_path):
    names = ["a.png", ".DS_Store", "._a.png", "Thumbs.db", "desktop.ini", "sub/b.png", "sub/DESKTOP.INI",
             ".git/c.png", "__MACOSX/sub/._b.png", "__MACOSX/d.png"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path, recursive=True)] == ["a.png",
                                                                                                    "sub/b.png"]
    assert [p.name for p in image_files(tmp_path)] == ["a.png"]


def test_a_bad_template(tmp_path):
    with pytest.raises(BadInputError, match=r"^name: bad template '\{photo\}' \('photo'\); use \{content\}"):
        output_name("{photo}", tmp_path / "a.png", (tmp_path / "s.png",))


def test_expand_leaves_out_the_style_images(mixed_photos):
    style = mixed_photos / "p1.png"
    assert [p.name for p in expand([mixed_photos], "content", exclude=[style])] == ["broken.jpg", "p0.png", "p2.png"]
    lonely = mixed_photos.parent / "lonely"
    lonely.mkdir()
    make_style().save(lonely / "s.png")
    with pytest.raises(BadInputError, match="content folder '.*lonely': no files in it but the style images"):
        expand([lonely], "content", exclude=[lonely / "s.png"])


def _items(n):
    return [Item(Path(f"c{i}.png"), (), Path(f"o{i}.png")) for i in range(n)]


@pytest.mark.parametrize("n", [1, 3, 7, 10])
def test_shards_partition_the_work(n):
    items = _items(n)
    parts = [shard(items, f"{k}/3") for k in (1, 2, 3)]
    assert sorted((i.content for part in parts for i in part), key=str) == sorted((i.content for i in items), key=str)


@pytest.mark.parametrize("environ, spec, expected", [
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8"}, "auto", (3, 8)),
    ({"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "4",
      "SLURM_ARRAY_TASK_COUNT": "4"}, "auto", (4, 4)),  # --array=0-15:4
    ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "2"}, "auto/6", (1, 6)),
    ({"JOB_COMPLETION_INDEX": "0"}, "auto/4", (1, 4)),
    ({"JOB_COMPLETION_INDEX": "3"}, "auto/4", (4, 4)),
    ({}, "2/5", (2, 5)),
])
def test_parse_shard(environ, spec, expected):
    assert parse_shard(spec, environ) == expected


@pytest.mark.parametrize("environ, spec, message", [
    ({}, "auto", "shard auto: not in an array job"),
    ({"JOB_COMPLETION_INDEX": "0"}, "auto", "shard auto: the array's size is not in the environment"),
    ({"JOB_COMPLETION_INDEX": "4"}, "auto/4", "shard: 'auto/4' needs 1 <= K <= N (got K=5, N=4)"),
    ({}, "0/2", "shard: '0/2' needs 1 <= K <= N"),
    ({}, "2", "shard: '2' is not K/N"),
])
def test_parse_shard_errors(environ, spec, message):
    with pytest.raises(BadInputError) as caught:
        parse_shard(spec, environ)
    assert str(caught.value).startswith(message)


def test_stop_run_in_a_batch_keeps_what_is_done_and_begins_nothing_more(mixed_photos, two_styles, tmp_path):
    (mixed_photos / "broken.jpg").unlink()
    items = work_list(image_files(mixed_photos), [two_styles / "red.png"], tmp_path / "out", ext="png")
    config = StylizeConfig(size=32, iterations=3, weights="random")
    seen = []

    def on_progress(item, progress):
        seen.append(item)
        if item is items[1] and progress.step == 2:
            raise StopRun

    summary = batch(items, config, on_progress=on_progress)
    assert summary.stopped and not summary.interrupted
    assert summary.line() == "1 done, 0 skipped, 0 failed (stopped)"
    assert outputs(tmp_path / "out") == [items[0].output.name]  # the item in progress is not saved
    assert items[2] not in seen
