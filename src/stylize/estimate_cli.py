"""`stylize --estimate`: the peak memory a run would need, and whether it fits, without running it.

No weights are loaded: the network's activation sizes come from the meta device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from .config import BatchConfig, StylizeConfig, validate
from .errors import StylizeError, cli_flag, one_line


def print_estimate(content: str, styles: list[str], config: StylizeConfig, batch: Optional[BatchConfig]) -> None:
    """One line: the (largest) output size, the estimate, what is available, and the verdict."""
    from .cli import check_inputs
    from .imageio import image_size, long_edge_dims

    cfg = validate(config, len(styles))
    if batch is None:
        check_inputs([content], styles, cfg)
        sizes, skipped = {Path(content): image_size(content, "content image", cfg.max_pixels)}, []
    else:
        sizes, skipped = _folder_sizes(content, styles, cfg, batch)
    # Every output gets the same long edge, so the squarest picture has the most pixels.
    largest = max(sizes, key=lambda p: _area(long_edge_dims(sizes[p], cfg.size)))
    width, height = long_edge_dims(sizes[largest], cfg.size)

    import torch  # noqa: F401  (here, after every check that needs no torch)

    from .device import resolve_device, resolve_precision
    from .memory import available, describe, estimate, largest_fitting_size

    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    need, room = estimate(cfg, width, height, precision, device, loaded=False), available(device)
    what = f"{content}: {width}x{height} px"
    if batch is not None:
        what = (f"{content}: {len(sizes)} images, the largest output {width}x{height} px ({largest.name})"
                + (f", {len(skipped)} unreadable" if skipped else ""))
    if not room or need <= room:
        verdict = "fits" if room else "fits (available memory unknown)"
    else:
        best = largest_fitting_size(cfg, width / height, precision, device, room, loaded=False)
        verdict = f"does not fit; {cli_flag('size')} {best} fits (or pass {cli_flag('force')})"
    click.echo(f"{what}, {cfg.model} {precision} on {device}: about {describe(need)} of memory at peak,"
               f" {describe(room)} available: {verdict}")


def _area(dims: tuple[int, int]) -> int:
    return dims[0] * dims[1]


def _folder_sizes(content: str, styles: list[str], cfg: StylizeConfig, batch: BatchConfig):
    """{content file: (w, h)} from the headers of every readable file, and the unreadable ones."""
    from .batch import expand
    from .imageio import image_size

    style_files = expand(styles, "style")
    contents = expand([content], "content", batch.recursive, exclude=style_files)
    sizes, skipped = {}, []
    for path in contents:
        try:
            sizes[path] = image_size(path, "content image", cfg.max_pixels)
        except StylizeError as e:
            skipped.append(one_line(e, cli_flag))
    if not sizes:
        from .errors import BadInputError

        raise BadInputError(f"content folder '{content}': none of its {len(contents)} files is an image to estimate")
    return sizes, skipped
