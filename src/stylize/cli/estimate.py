"""`stylize --estimate`: the plan of each scale, its peak memory and time, without running it.

No weights are loaded: the network's shapes come from the meta device, and its speed is
timed on this device with random weights (the same arithmetic as the real ones).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import click

from ..config import BatchConfig, StylizeConfig, validate
from ..errors import BadInputError, StylizeError, cli_flag, one_line


def print_estimate(content: str, styles: list[str], config: StylizeConfig, batch: Optional[BatchConfig],
                   masks: int = 0) -> None:
    """A line per scale, then the verdict: fits or not, and about how long (``masks``: regional masks)."""
    from ..media.imageio import image_size, long_edge_dims
    from .common import check_inputs
    from .display import clock

    cfg = validate(config, len(styles))
    if batch is None:
        check_inputs([content], styles, cfg)
        sizes, skipped = {Path(content): image_size(content, "content image", cfg.max_pixels)}, []
    else:
        sizes, skipped = _folder_sizes(content, styles, cfg, batch)
    # Every output gets the same long edge, so the squarest picture has the most pixels.
    largest = max(sizes, key=lambda p: _area(long_edge_dims(sizes[p], cfg.size)))
    width, height = long_edge_dims(sizes[largest], cfg.size)

    from ..core.engine import Stylizer  # torch loads here, after every check that needs none
    from ..core.memory import available_from, budget, describe

    stylizer = Stylizer(replace(cfg, weights="random"), len(styles))
    allowed = budget(cfg, stylizer.device)
    try:
        plan = stylizer.plan(sizes[largest], masks)
        fits = True
    except BadInputError:
        plan, fits = stylizer.plan_anyway(sizes[largest], masks), False
    rate = stylizer.seconds_per_pixel()
    what = f"{content}: {width}x{height} px"
    if batch is not None:
        what = (f"{content}: {len(sizes)} images, the largest output {width}x{height} px ({largest.name})"
                + (f", {len(skipped)} unreadable" if skipped else ""))
    source = cli_flag("max_memory") if cfg.max_memory else available_from(stylizer.device)[1]
    if allowed is None:  # never refused for want of a reading: planned as if it fits
        room = f"memory available unknown ({source}), planned without a limit"
    else:
        room = f"{describe(allowed)} allowed ({source}{'' if cfg.max_memory else ', less 10%'})"
    click.echo(f"{what}, {cfg.model} {stylizer.precision} on {stylizer.device}, {room}:")
    for scale in plan.scales:
        click.echo(f"  {scale.width:>5}x{scale.height:<5} px {scale.iterations:>5} iterations  {scale.how:<34}"
                   f" history {scale.history:<4} {describe(scale.peak):>9}  {clock(scale.work * rate):>8}")
    verdict = "fits" if fits else (f"does not fit; lower {cli_flag('size')}, raise {cli_flag('max_memory')}"
                                   f" or pass {cli_flag('force')}")
    click.echo(f"peak about {describe(plan.peak)} of memory: {verdict}; about {clock(plan.seconds(rate))} of"
               f" optimization in all (the speed measured on this device: a 256 px evaluation in"
               f" {rate * 256 * 256:.2f} s)")


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
