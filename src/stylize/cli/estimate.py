"""`stylize --estimate`: the plan of each scale, its peak memory and time, without running it.

No weights are loaded: the network's shapes come from the meta device, and its speed is
timed on this device with random weights (the same arithmetic as the real ones).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import click

from ..config import BatchConfig, StylizeConfig, plural, validate
from ..errors import BadInputError, StylizeError, cli_flag, one_line
from ..jobs.video import VideoConfig
from .display import clock


def print_estimate(content: str, styles: list[str], config: StylizeConfig, batch: Optional[BatchConfig],
                   masks: int = 0, video: Optional[VideoConfig] = None) -> None:
    """A line per scale, then the verdict: fits or not, and about how long (``masks``: regional masks).

    ``batch``: CONTENT is a folder (the largest output is planned); ``video``: CONTENT is a clip.
    """
    from ..media.imageio import image_size, long_edge_dims
    from .common import check_inputs

    cfg = validate(config, len(styles))
    if video is not None:
        return _print_video_estimate(content, styles, cfg, video, masks)
    if batch is None:
        check_inputs([content], styles, cfg)
        sizes, skipped = {Path(content): image_size(content, "content image", cfg.max_pixels)}, []
    else:
        sizes, skipped = _folder_sizes(content, styles, cfg, batch)
    # Every output gets the same long edge, so the squarest picture has the most pixels.
    largest = max(sizes, key=lambda p: _area(long_edge_dims(sizes[p], cfg.size)))
    width, height = long_edge_dims(sizes[largest], cfg.size)

    from ..core.engine import Stylizer  # torch loads here, after every check that needs none
    from ..core.memory import describe

    stylizer = Stylizer(replace(cfg, weights="random"), len(styles))
    try:
        plan = stylizer.plan(sizes[largest], masks)
        fits = True
    except BadInputError:
        plan, fits = stylizer.plan_anyway(sizes[largest], masks), False
    speed = stylizer.speed(masks=masks)
    what = f"{content}: {width}x{height} px"
    if batch is not None:
        what = (f"{content}: {len(sizes)} images, the largest output {width}x{height} px ({largest.name})"
                + (f", {len(skipped)} unreadable" if skipped else ""))
    click.echo(f"{what}{_regions(masks)}, {_machine(stylizer)}:")
    _echo_scales(plan.scales, speed)
    click.echo(f"peak about {describe(plan.peak)} of memory: {_verdict(fits)}; about {clock(plan.seconds(speed))} of"
               f" optimization in all{_speed(speed)}")


def _print_video_estimate(content: str, styles: list[str], cfg: StylizeConfig, video: VideoConfig,
                          masks: int) -> None:
    """The first frame's scales, a later frame's, and the clip's total."""
    from ..core.engine import Stylizer  # torch loads here, after every check that needs none
    from ..core.memory import describe
    from ..jobs.video import frame_size, plan_video, probe_clip
    from .common import check_inputs

    check_inputs([], styles, cfg)
    _, info = probe_clip(content, video)
    width, height = frame_size(info.width, info.height, cfg.size)
    stylizer = Stylizer(replace(cfg, weights="random", size=max(width, height)), len(styles))
    try:
        plan, fits = plan_video(stylizer, info, video, masks), True
    except BadInputError:
        plan, fits = plan_video(stylizer, info, video, masks, anyway=True), False
    speed = stylizer.speed(masks=masks)
    click.echo(f"{content}: {plural(plan.frames, 'frame')} of {width}x{height} px{_regions(masks)},"
               f" {_machine(stylizer)}:")
    click.echo("  the first frame" + ("" if plan.later else ", and every other one (no temporal link)") + ":")
    _echo_scales(plan.first.scales, speed)
    each = plan.first.seconds(speed)
    if plan.later is not None:
        click.echo(f"  each of the {plural(plan.frames - 1, 'later frame')}, from the previous one warped:")
        _echo_scales([plan.later], speed)
        each = plan.later.seconds(speed)
    click.echo(f"peak about {describe(plan.peak)} of memory: {_verdict(fits)}; about {clock(plan.seconds(speed))} of"
               f" optimization in all ({clock(plan.first.seconds(speed))} for the first frame, {clock(each)} for each"
               f" later one){_speed(speed)}")


def _regions(masks: int) -> str:
    return f", {masks} regional styles" if masks else ""


def _machine(stylizer) -> str:
    """'vgg19 bf16 on cpu, 21.6 GiB allowed (RAM available, less 10%)': what the plan was made for."""
    from ..core.memory import available_from, budget, describe

    cfg = stylizer.cfg
    allowed = budget(cfg, stylizer.device)
    source = cli_flag("max_memory") if cfg.max_memory else available_from(stylizer.device)[1]
    if allowed is None:  # never refused for want of a reading: planned as if it fits
        room = f"memory available unknown ({source}), planned without a limit"
    else:
        room = f"{describe(allowed)} allowed ({source}{'' if cfg.max_memory else ', less 10%'})"
    return f"{cfg.model} {stylizer.precision} on {stylizer.device}, {room}"


def _echo_scales(scales, speed) -> None:
    from ..core.memory import describe

    width = max(len(scale.how) for scale in scales)  # '3 tiles of 2725x1368 px (+48 px halo)' or 'whole'
    for scale in scales:
        click.echo(f"  {scale.width:>5}x{scale.height:<5} px {scale.iterations:>5} iterations  {scale.how:<{width}}"
                   f"  history {scale.history:<4} {describe(scale.peak):>9}  {clock(scale.seconds(speed)):>8}")


def _verdict(fits: bool) -> str:
    return "fits" if fits else (f"does not fit; lower {cli_flag('size')}, raise {cli_flag('max_memory')}"
                                f" or pass {cli_flag('force')}")


def _speed(speed) -> str:
    return (f" (the speed measured on this device: a 256 px evaluation in {speed.seconds(1, 256 * 256):.2f} s,"
            f" 1024 px in {speed.seconds(1, 1024 * 1024):.2f} s)")


def _area(dims: tuple[int, int]) -> int:
    return dims[0] * dims[1]


def _folder_sizes(content: str, styles: list[str], cfg: StylizeConfig, batch: BatchConfig):
    """{content file: (w, h)} from the headers of every readable file, and the unreadable ones."""
    from ..jobs.batch import expand
    from ..media.imageio import image_size

    style_files = expand(styles, "style")
    contents = expand([content], "content", batch.recursive, exclude=style_files)
    sizes, skipped = {}, []
    for path in contents:
        try:
            sizes[path] = image_size(path, "content image", cfg.max_pixels)
        except StylizeError as e:
            skipped.append(one_line(e, cli_flag))
    if not sizes:
        raise BadInputError(f"content folder '{content}': none of its {len(contents)} files is an image to estimate")
    return sizes, skipped
