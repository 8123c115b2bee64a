"""The CUDA path on an NVIDIA GPU: device and precision choice, memory reading, exact tiles,
real runs of an image and a video. Skipped without CUDA; `pytest -m cuda` runs only these
(benchmarks/gpu.py does, before its timings)."""

import pytest
import torch
from PIL import Image

from stylize import StylizeConfig, run
from stylize.core.device import resolve_device, resolve_precision
from stylize.core.memory import available_from
from stylize.core.tiling import plan_tiles, value_and_grad, whole
from stylize.net.layers import halo, stride

from conftest import EXAMPLES, TILING_CASES, make_clip, smooth_image, tiling_objective

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")]


def test_auto_picks_the_gpu_and_bf16_where_it_has_bf16_tensor_cores():
    device = resolve_device("auto")
    assert device.type == "cuda"
    ampere_or_newer = torch.cuda.get_device_capability(device)[0] >= 8
    assert resolve_precision("auto", device) == ("bf16" if ampere_or_newer else "fp32")
    assert not torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32


def test_the_memory_figure_is_cudas_own():
    device = torch.device("cuda")
    room, source = available_from(device)
    total = torch.cuda.get_device_properties(device).total_memory
    assert source == "CUDA free memory" and 0 < room <= total
    held = torch.empty(256 * 2**20, dtype=torch.uint8, device=device)  # ours counts as room: the run reuses it
    assert available_from(device)[0] >= room - 2**20
    del held


@pytest.mark.parametrize("case", ["vgg19-shallow", "vgg19-paper"])
def test_a_tiled_gradient_equals_the_whole_one_on_the_gpu(case):
    model, style_layers, content_layer, size, tile = TILING_CASES[case]
    objective, _ = tiling_objective(model, style_layers, content_layer, size, device="cuda")
    x = (1.4 * smooth_image(*size, seed=3) - 0.2).cuda().double()
    step = max(stride(model, layer) for layer in (*style_layers, content_layer))
    plan = plan_tiles(*size, tile, halo(model, [*style_layers, content_layer]), step)
    assert plan.tiled
    losses_whole, grad_whole = value_and_grad(objective, x, whole(*size))
    losses_tiled, grad_tiled = value_and_grad(objective, x, plan)
    for name in losses_whole:
        assert torch.allclose(losses_tiled[name], losses_whole[name], rtol=1e-9, atol=1e-12), name
    assert (grad_tiled - grad_whole).norm() / grad_whole.norm() < 1e-9


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_bundled_vgg19_paints_on_the_gpu(precision):
    seen = []
    config = StylizeConfig(size=96, iterations=30, min_size=0, device="cuda", precision=precision)
    result = run(EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg", config=config,
                 on_progress=lambda p: p.done or seen.append(p.losses))
    assert result.device.startswith("cuda") and result.precision == precision
    assert result.image.size == (96, 64) and result.steps == 30
    assert all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    assert result.losses["style"] < seen[0]["style"] / 5


def test_bf16_and_fp32_reach_the_same_picture_on_the_gpu():
    common = dict(size=64, iterations=40, min_size=0, device="cuda")
    runs = {p: run(EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg",
                   config=StylizeConfig(precision=p, **common)) for p in ("fp32", "bf16")}
    totals = {p: r.losses["total"] for p, r in runs.items()}
    assert abs(totals["bf16"] - totals["fp32"]) < 0.1 * totals["fp32"], totals


def test_a_tiled_run_on_the_gpu_matches_the_whole_one():
    common = dict(size=96, iterations=10, min_size=0, device="cuda", precision="fp32")
    whole_run = run(EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg", config=StylizeConfig(**common))
    tiles = []
    tiled_run = run(EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg", config=StylizeConfig(tile=64, **common),
                    on_progress=lambda p: p.tile and tiles.append(p.tile))
    assert tiles and max(total for _, total in tiles) > 1
    assert abs(tiled_run.losses["total"] - whole_run.losses["total"]) < 0.02 * whole_run.losses["total"]


def test_a_runs_cuda_peak_stays_within_its_plan():
    """The plan's estimate is what --max-memory holds a run to: the allocator's peak must not pass it."""
    from stylize.core.engine import Stylizer

    for cfg in (StylizeConfig(size=384, device="cuda"), StylizeConfig(size=384, device="cuda", tile=128)):
        stylizer = Stylizer(cfg)
        plan = stylizer.plan(Image.open(EXAMPLES / "chelsea.jpg").size)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        stylizer.run(EXAMPLES / "chelsea.jpg", [EXAMPLES / "starry_night.jpg"])
        assert torch.cuda.max_memory_allocated() <= plan.peak, (cfg.tile, torch.cuda.max_memory_allocated(), plan.peak)


def test_a_video_on_the_gpu(tmp_path):
    from stylize import VideoConfig, stylize_video

    clip = make_clip(tmp_path / "clip.mp4", frames=4, size=(64, 48))
    out = tmp_path / "out.mp4"
    summary = stylize_video(clip, [EXAMPLES / "starry_night.jpg"], out,
                            StylizeConfig(size=64, iterations=5, min_size=0, device="cuda"),
                            VideoConfig(frame_iterations=3))
    assert summary["frames"] == 4 and out.is_file()
    import av

    with av.open(str(out)) as container:
        frames = [f.to_image() for f in container.decode(video=0)]
    assert len(frames) == 4 and isinstance(frames[0], Image.Image) and frames[0].size == (64, 48)
