"""End to end with the real weights: every part of a photo is painted, flat white, black and
saturated primaries too (they sit on the edge of [0, 1], where a clamped objective left them),
and a run that cannot paint says so rather than passing for a success."""

import json
from dataclasses import replace

import pytest
import torch
from PIL import Image

from stylize import StylizeConfig, run
from stylize.core.statistics import relative_mse
from stylize.media.imageio import to_tensor
from stylize.net.features import build_extractor
from stylize.net.weights import load_weights

from conftest import EXAMPLES, gram_matrix, make_clip, make_content, make_style

pytestmark = pytest.mark.slow

REGIONS = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "blue": (0, 0, 255)}
LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def _quadrants(side: int = 64) -> Image.Image:
    """Four flat squares, each a colour on the edge of the RGB cube."""
    image, half = Image.new("RGB", (side, side)), side // 2
    for (name, colour), (x, y) in zip(REGIONS.items(), [(0, 0), (half, 0), (0, half), (half, half)]):
        image.paste(colour, (x, y, x + half, y + half))
    return image


@pytest.fixture(scope="module")
def painting():
    return Image.open(EXAMPLES / "starry_night.jpg").convert("RGB").resize((64, 40))


@pytest.fixture(scope="module")
def extractor():
    return build_extractor("vgg19", load_weights("vgg19", "bundled"), list(LAYERS))


def _style_distance(extractor, region: torch.Tensor, painting: torch.Tensor) -> float:
    """How far a region's Gram matrices are from the painting's, summed over three layers."""
    with torch.no_grad():
        a, b = extractor(region), extractor(painting)
    return sum(relative_mse(gram_matrix(a[layer]), gram_matrix(b[layer])).item() for layer in LAYERS)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_white_black_and_saturated_areas_are_painted(extractor, painting, optimizer):
    iterations = {"lbfgs": 50, "adam": 200}[optimizer]
    result = run(_quadrants(), painting, config=StylizeConfig(size=64, iterations=iterations, optimizer=optimizer))
    before, after, target = to_tensor(_quadrants()), to_tensor(result.image), to_tensor(painting)
    for (name, _), (x, y) in zip(REGIONS.items(), [(0, 0), (32, 0), (0, 32), (32, 32)]):
        crop = (..., slice(y + 4, y + 28), slice(x + 4, x + 28))  # inside the square, off its seams
        was, now = _style_distance(extractor, before[crop], target), _style_distance(extractor, after[crop], target)
        assert now < 0.5 * was, (name, was, now)
        assert after[crop].std() > 0.03, name  # texture, not a flat colour nudged towards the palette
    assert not result.stalled and result.notices == []


def test_a_tiled_run_of_flat_primaries_agrees_with_the_whole_one(painting):
    config = StylizeConfig(size=96, min_size=0, iterations=8, precision="fp32", tolerance=0)
    whole = run(_quadrants(96), painting, config=config)
    tiled = run(_quadrants(96), painting, config=replace(config, tile=64))
    assert abs(tiled.losses["total"] / whole.losses["total"] - 1) < 0.01
    assert whole.losses["style"] < 0.2 * _start(config, painting)["style"]


def _start(config, painting):
    """The loss terms of the unpainted picture (zero iterations' worth: one evaluation)."""
    from stylize.core.engine import Stylizer
    from stylize.core.objective import Objective

    stylizer = Stylizer(config)
    content = to_tensor(_quadrants(config.size))
    targets = stylizer.styles.targets([painting], content, config.size)
    objective = Objective(stylizer.extractor, content, targets, stylizer.cfg)
    return {k: v.item() for k, v in objective.value(content).items()}


def test_a_masked_region_of_white_is_painted(painting):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # the left half: white above, red below
    result = run(_quadrants(), painting, config=StylizeConfig(size=64), masks=[mask])
    after, before = to_tensor(result.image), to_tensor(_quadrants())
    assert after[..., 4:28, 4:28].std() > 0.03 and after[..., 36:60, 4:28].std() > 0.03
    assert (after - before)[..., 4:60, 44:60].abs().mean() < 0.1  # the right half keeps the photo


def test_a_clip_of_white_and_primaries_is_painted_in_every_frame(tmp_path, painting):
    import av
    from PIL import ImageSequence

    from stylize.jobs.video import VideoConfig, stylize_video

    clip = tmp_path / "flat.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv444p"
        for i in range(3):  # the squares drift right by 2 px a frame
            frame = Image.new("RGB", (64, 64), (255, 255, 255))
            frame.paste(_quadrants().crop((0, 0, 64 - 2 * i, 64)), (2 * i, 0))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                out.mux(packet)
        out.mux(stream.encode())
    painting_path = tmp_path / "painting.png"
    painting.save(painting_path)
    output = tmp_path / "out.webp"
    stylize_video(clip, [painting_path], output, StylizeConfig(size=64), VideoConfig())
    frames = [f.convert("RGB") for f in ImageSequence.Iterator(Image.open(output))]
    assert len(frames) == 3
    for frame in frames:
        white = to_tensor(frame)[..., 4:28, 12:28]  # inside the white square in every frame
        assert white.std() > 0.03 and white.mean() < 0.9


def test_a_run_that_cannot_paint_is_not_ended_by_the_plateau_and_says_so():
    # A style weight so small that the style term cannot matter: the loss is flat from the start.
    config = StylizeConfig(size=32, min_size=0, iterations=30, style_weight=1e-9, weights="random")
    result = run(make_content(), make_style(), config=config)
    assert result.steps == 30  # the plateau (20 flat steps) did not end it
    assert result.stalled
    assert len(result.notices) == 1 and result.notices[0].startswith("the style loss barely fell (")
    assert "style_weight" in result.notices[0]


def test_the_cli_summary_says_a_run_barely_painted(cli, images, tmp_path):
    out = tmp_path / "out.png"
    result = cli(images["content"], images["style"], "-o", out, "--weights", "random", "--size", "32",
                 "--min-size", "0", "--iterations", "30", "--style-weight", "1e-9")
    assert result.exit_code == 0
    note, = [line for line in result.stderr.splitlines() if line.startswith("Note: ")]
    assert note.startswith("Note: the style loss barely fell (") and "--style-weight" in note
    assert result.stdout.strip().endswith("; the style barely changed (see the note above)")
    assert out.exists()


def test_a_batch_and_a_video_pass_on_each_runs_notes(cli, images, tmp_path):
    # one rule for every kind of job: a run's notes reach the user, named after its item or frame
    folder = tmp_path / "photos"
    folder.mkdir()
    make_content().save(folder / "a.png")
    flat = ["--weights", "random", "--size", "32", "--min-size", "0", "--iterations", "30", "--style-weight", "1e-9"]
    result = cli(folder, images["style"], "-o", tmp_path / "out", *flat, "--log", tmp_path / "log.jsonl")
    assert result.exit_code == 0, result.stderr
    note, = [line for line in result.stderr.splitlines() if line.startswith("Note: ")]
    assert note.startswith(f"Note: {tmp_path / 'out' / 'a__style.jpg'}: the style loss barely fell (")
    assert "--style-weight" in note
    logged = json.loads((tmp_path / "log.jsonl").read_text())
    assert logged["notices"][0].startswith("the style loss barely fell (") and "--style-weight" in logged["notices"][0]
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=0)
    result = cli(clip, images["style"], "-o", tmp_path / "o.mp4", *flat, "--frame-iterations", "2")
    assert result.exit_code == 0, result.stderr
    note, = [line for line in result.stderr.splitlines() if line.startswith("Note: ")]
    assert note.startswith("Note: o.mp4: frame 1: the style loss barely fell (")  # a warm frame does not stall
