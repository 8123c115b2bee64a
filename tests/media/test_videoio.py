"""videoio.py: probing, upright frames, writing with the audio copied, refusing what is not a video."""

from fractions import Fraction

import av
import pytest
from PIL import Image

from stylize.errors import BadInputError
from stylize.media.videoio import is_video, probe, read_frames, write_video

from conftest import heic, make_clip, make_content, without_heif_plugin


def test_probe_reads_rate_count_size_and_audio(tmp_path):
    info = probe(make_clip(tmp_path / "c.mp4", frames=9, size=(64, 48), fps=12))
    assert (info.width, info.height, info.fps, info.frames, info.audio) == (64, 48, Fraction(12), 9, True)
    assert info.duration == pytest.approx(0.75)
    assert not probe(make_clip(tmp_path / "silent.mp4", audio=0)).audio


def test_a_video_is_told_from_an_image_by_its_content(tmp_path):
    clip = make_clip(tmp_path / "clip.bin")  # no telling extension
    make_content().save(tmp_path / "photo.mp4", format="PNG")  # a lying one
    (tmp_path / "noise.mp4").write_bytes(b"\x00\x01garbage" * 100)
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert is_video(clip)
    assert not is_video(tmp_path / "photo.mp4")
    assert not is_video(tmp_path / "noise.mp4") and not is_video(tmp_path / "empty.mp4")
    assert not is_video(tmp_path / "missing.mp4") and not is_video(tmp_path)


def test_frames_are_streamed_upright(tmp_path):
    # The display matrix says: turn 90 degrees. A phone's portrait clip is stored that way.
    clip = make_clip(tmp_path / "r.mp4", frames=3, size=(64, 48), rotation=90)
    info = probe(clip)
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    frames = list(read_frames(clip))
    assert len(frames) == 3 and all(f.size == (48, 64) for f in frames)
    plain = next(read_frames(make_clip(tmp_path / "p.mp4", frames=1, size=(64, 48))))
    # Counter-clockwise by 90: the top-right corner of the stored frame lands top-left.
    assert _close(frames[0].getpixel((5, 5)), plain.getpixel((58, 5)))
    assert list(read_frames(clip, start=2))[0].tobytes() == frames[2].tobytes()


def _close(a, b, tol=40):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def test_write_keeps_rate_count_and_audio_and_is_atomic(tmp_path):
    source = make_clip(tmp_path / "in.mp4", frames=10, fps=10, audio=1.0)
    out = tmp_path / "out.mp4"
    frames = [Image.new("RGB", (32, 24), (10 * i, 0, 0)) for i in range(10)]
    assert write_video(out, iter(frames), Fraction(10), audio_from=source, metadata={"comment": "hi"}) == 10
    info = probe(out)
    assert (info.frames, info.fps, info.width, info.height, info.audio) == (10, Fraction(10), 32, 24, True)
    with av.open(str(out)) as written, av.open(str(source)) as original:
        a, b = written.streams.audio[0], original.streams.audio[0]
        assert (a.codec_context.name, a.rate) == (b.codec_context.name, b.rate)
        assert float(a.duration * a.time_base) == pytest.approx(float(b.duration * b.time_base), abs=0.03)
        assert written.metadata.get("comment") == "hi"
    assert {p.name for p in tmp_path.iterdir()} == {"in.mp4", "out.mp4"}  # no partial file left


def test_a_failed_write_leaves_nothing(tmp_path):
    def frames():
        yield Image.new("RGB", (32, 24))
        raise RuntimeError("stylizing failed")

    with pytest.raises(RuntimeError):
        write_video(tmp_path / "out.mp4", frames(), Fraction(8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cut", ["noise", "half", "header"])
def test_a_file_ffmpeg_cannot_read_is_one_line_in_ffmpegs_words(tmp_path, cut):
    clip = make_clip(tmp_path / "clip.mp4").read_bytes()
    data = {"noise": b"\x00\x01garbage" * 100, "half": clip[:len(clip) // 2], "header": clip[:2000]}[cut]
    path = tmp_path / "cut.mp4"
    path.write_bytes(data)
    with pytest.raises(BadInputError) as caught:
        probe(path)
    # no "[Errno 1094995529]", and the path once, at the start
    assert str(caught.value) == f"video '{path}': cannot be read (Invalid data found when processing input)"


def test_a_clip_without_video_or_without_frames_is_refused(tmp_path):
    sound_only = make_clip(tmp_path / "sound.m4a", audio=0.3, video_stream=False)
    with pytest.raises(BadInputError, match="has no video stream"):
        probe(sound_only)
    # (Matroska keeps a video track with no frames; MP4 drops it.)
    empty = make_clip(tmp_path / "empty.mkv", frames=0, audio=0.3, container="matroska")
    with pytest.raises(BadInputError, match=r"^video '.*empty.mkv': has no frames$"):
        probe(empty)


@pytest.mark.parametrize("plugin", [True, False])
def test_a_heic_photo_is_never_a_video(tmp_path, monkeypatch, plugin):

    path = heic(tmp_path / "IMG_0001.heic", make_content())
    if not plugin:
        without_heif_plugin(monkeypatch)
    with av.open(str(path)) as container:  # FFmpeg would take it for a one-frame video
        assert len(container.streams.video) > 0
    assert not is_video(path)
    renamed = tmp_path / "IMG_0001.data"  # by its content, not its name
    path.rename(renamed)
    assert not is_video(renamed)


def test_an_avif_photo_is_an_image(tmp_path):
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    path = tmp_path / "photo.avif"
    make_content().save(path)
    assert not is_video(path)
