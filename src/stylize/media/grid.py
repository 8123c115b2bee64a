"""Contact sheets: style images across the top, contents down the side, results inside."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from PIL import Image, ImageDraw, ImageOps

from ..config import MAX_PIXELS
from ..errors import StylizeError
from .imageio import load_image

LABEL_PX = 14  # a strip under each cell for the file name


def contact_sheet(
    contents: Sequence[Path],
    style_groups: Sequence[Sequence[Path]],
    results: dict[tuple[Path, tuple[Path, ...]], Optional[Path]],
    cell: int = 160,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """(1 + len(style_groups)) x (1 + len(contents)) cells of ``cell`` px plus labels.

    ``results[(content, group)]`` is the output file; a missing or failed result, or an
    input the run refused (unreadable, over ``max_pixels``), leaves its cell grey.
    """
    cols, rows = len(style_groups) + 1, len(contents) + 1
    sheet = Image.new("RGB", (cols * cell, rows * (cell + LABEL_PX)), "white")
    draw = ImageDraw.Draw(sheet)

    def put(col: int, row: int, path: Optional[Path], label: str) -> None:
        x, y = col * cell, row * (cell + LABEL_PX)
        thumb = _thumbnail(path, cell, max_pixels)
        if thumb is not None:
            sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        else:
            draw.rectangle((x + 2, y + 2, x + cell - 3, y + cell - 3), fill=(200, 200, 200))
        draw.text((x + 3, y + cell + 1), _fit(draw, label, cell - 6), fill="black")

    for col, group in enumerate(style_groups, start=1):
        put(col, 0, group[0], "+".join(p.name for p in group))
    for row, content in enumerate(contents, start=1):
        put(0, row, content, content.name)
        for col, group in enumerate(style_groups, start=1):
            output = results.get((content, tuple(group)))
            put(col, row, output, output.name if output else "failed")
    return sheet


def _thumbnail(path: Optional[Path], cell: int, max_pixels: int) -> Optional[Image.Image]:
    """The picture as the run saw it (the same guarded loader: upright, sRGB, alpha on white)."""
    if path is None:
        return None
    try:
        return ImageOps.contain(load_image(path, max_pixels=max_pixels), (cell - 4, cell - 4))
    except StylizeError:
        return None  # an unreadable or refused file still gets its labelled grey cell


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    """Shorten ``text`` with '...' until it fits ``width`` px."""
    if draw.textlength(text) <= width:
        return text
    while text and draw.textlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def save_contact_sheet(path, contents, style_groups, results, cell: int = 160, max_pixels: int = MAX_PIXELS) -> None:
    from .imageio import save_image

    save_image(contact_sheet(contents, style_groups, results, cell, max_pixels), path)
