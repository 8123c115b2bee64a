"""video.py: a clip stylized frame by frame, temporally linked, resumable; random weights, tiny frames."""

import json
from fractions import Fraction

import pytest
from PIL import Image

from stylize import StopRun, StylizeConfig
from stylize.errors import BadInputError
from stylize.jobs.video import VideoConfig, frame_size, stylize_video, work_folder
from stylize.media.videoio import probe, read_frames

from conftest import make_clip, make_style

FAST = StylizeConfig(size=32, iterations=3, min_size=16, coarse_iterations=2, weights="random")


@pytest.fixture
def style(tmp_path):
    path = tmp_path / "style.png"
    make_style().save(path)
    return path


def test_a_clip_keeps_its_rate_frame_count_and_audio(tmp_path, style):
    clip = make_clip(tmp_path / "clip.mp4", frames=6, size=(64, 48), fps=12, audio=0.5)
    out = tmp_path / "out.mp4"
    seen = []
    done = stylize_video(clip, [style], out, FAST, VideoConfig(frame_iterations=2), on_frame=seen.append)
    info = probe(out)
    assert (info.frames, info.fps, info.audio, (info.width, info.height)) == (6, Fraction(12), True, (32, 24))
    assert done["frames"] == 6 and [d.index for d in seen] == list(range(6)) and not any(d.resumed for d in seen)
    assert not work_folder(out).exists()  # removed once the video is written
    assert info.duration == pytest.approx(0.5)  # 6 frames at 12 fps
    settings = json.loads(_comment(out))  # what the PNG settings chunk holds for an image
    assert settings["video"]["frame_iterations"] == 2 and settings["config"]["size"] == 32


def _comment(path):
    import av

    with av.open(str(path)) as c:
        return c.metadata["comment"]


def test_odd_sizes_become_even(tmp_path, style):
    assert frame_size(63, 47, 63) == (62, 46) and frame_size(47, 63, 32) == (24, 32)
    clip = make_clip(tmp_path / "odd.mp4", frames=2, size=(66, 50), audio=0)
    out = tmp_path / "out.mp4"
    stylize_video(clip, [style], out, StylizeConfig(size=33, iterations=2, min_size=0, weights="random"))
    assert (probe(out).width, probe(out).height) == (32, 24)


def test_an_interrupted_clip_resumes_without_redoing_a_frame(tmp_path, style):
    clip = make_clip(tmp_path / "clip.mp4", frames=5, audio=0)
    out = tmp_path / "out.mp4"

    def stop_after_three(done):
        if done.index == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stylize_video(clip, [style], out, FAST, on_frame=stop_after_three)
    assert sorted(p.name for p in work_folder(out).glob("*.png")) == ["000001.png", "000002.png", "000003.png"]
    assert not out.exists()
    kept = {p.name: p.read_bytes() for p in work_folder(out).glob("*.png")}
    seen = []
    stylize_video(clip, [style], out, FAST, VideoConfig(keep_frames=True), on_frame=seen.append)
    assert [d.resumed for d in seen] == [True, True, True, False, False]
    assert probe(out).frames == 5
    assert all((work_folder(out) / name).read_bytes() == data for name, data in kept.items())


def test_stop_run_keeps_the_finished_frames_and_drops_the_one_in_progress(tmp_path, style):
    clip = make_clip(tmp_path / "clip.mp4", frames=4, audio=0)
    out = tmp_path / "out.mp4"
    frames = []

    def stop_in_the_third(progress):
        if len(frames) == 2 and progress.step == 1:
            raise StopRun

    with pytest.raises(StopRun):
        stylize_video(clip, [style], out, FAST, on_frame=frames.append, on_progress=stop_in_the_third)
    assert sorted(p.name for p in work_folder(out).glob("*.png")) == ["000001.png", "000002.png"]
    assert not out.exists()


def test_a_work_folder_of_other_settings_is_not_mixed_in(tmp_path, style):
    clip = make_clip(tmp_path / "clip.mp4", frames=3, audio=0)
    out = tmp_path / "out.mp4"
    stylize_video(clip, [style], out, FAST, VideoConfig(keep_frames=True))
    assert work_folder(out).is_dir()
    with pytest.raises(BadInputError, match="holds frames made with other settings"):
        stylize_video(clip, [style], out, StylizeConfig(size=32, iterations=4, min_size=16, weights="random"))


def test_the_temporal_term_cuts_flicker(tmp_path, style):
    # The flicker measure of benchmarks/flicker.py: each output frame against the previous
    # output warped by the input's flow, on the pixels where that flow is reliable.
    clip = make_clip(tmp_path / "clip.mp4", frames=5, size=(64, 48), audio=0)
    measured = {}
    for weight in (0.0, 200.0):
        out = tmp_path / f"w{weight:g}.mp4"
        stylize_video(clip, [style], out, FAST, VideoConfig(temporal_weight=weight, keep_frames=True))
        measured[weight] = flicker_of(list(read_frames(clip)), sorted(work_folder(out).glob("*.png")))
    assert measured[200.0] < measured[0.0] / 2, measured


def flicker_of(inputs, outputs):
    from stylize.media.flow import DISFlow, flicker, reliable
    from stylize.media.imageio import to_tensor

    flow, values = DISFlow(), []
    outs = [Image.open(p).convert("RGB") for p in outputs]
    ins = [im.resize(outs[0].size, Image.Resampling.LANCZOS) for im in inputs]
    for t in range(1, len(outs)):
        back, forward = flow(ins[t], ins[t - 1]), flow(ins[t - 1], ins[t])
        values.append(flicker(to_tensor(outs[t]), to_tensor(outs[t - 1]), back, reliable(back, forward)))
    return sum(values) / len(values)


def test_blends_masks_and_colour_work_on_a_clip(tmp_path, style):
    # Two styles, each in one half of every frame, the photo's colours kept; 4:3 masks like the clip.
    clip = make_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48), audio=0)
    left = Image.new("L", (64, 48), 0)
    left.paste(255, (0, 0, 32, 48))
    left.save(tmp_path / "left.png")
    Image.eval(left, lambda v: 255 - v).save(tmp_path / "right.png")
    second = tmp_path / "style2.png"
    make_style(colours=((250, 250, 250), (10, 120, 10))).save(second)
    out = tmp_path / "out.mp4"
    cfg = StylizeConfig(size=32, iterations=3, min_size=16, coarse_iterations=2, weights="random",
                        preserve_color="luminance")
    done = stylize_video(clip, [style, second], out, cfg, VideoConfig(frame_iterations=2),
                         masks=[tmp_path / "left.png", tmp_path / "right.png"])
    info = probe(out)
    assert done["frames"] == info.frames == 3 and info.duration == pytest.approx(3 / 8)
    settings = json.loads(_comment(out))
    assert settings["masks"] == [str(tmp_path / "left.png"), str(tmp_path / "right.png")]
    assert settings["config"]["preserve_color"] == "luminance" and len(settings["styles"]) == 2
