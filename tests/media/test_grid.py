"""Contact sheets: what each cell shows, and inputs the run refused."""


from PIL import Image, ImageFile

from stylize.media.grid import LABEL_PX, contact_sheet

from conftest import bomb_png

CELL = 64


def _cell_centre(sheet, col, row):
    return sheet.getpixel((col * CELL + CELL // 2, row * (CELL + LABEL_PX) + CELL // 2))


def _solid(path, colour, size=(20, 20), mode="RGB"):
    Image.new(mode, size, colour).save(path)
    return path


def test_cells_show_styles_contents_and_results(tmp_path):
    style = _solid(tmp_path / "style.png", (200, 0, 0))
    content = _solid(tmp_path / "content.png", (0, 0, 200))
    output = _solid(tmp_path / "out.png", (0, 200, 0))
    sheet = contact_sheet([content], [(style,)], {(content, (style,)): output}, cell=CELL)
    assert sheet.size == (2 * CELL, 2 * (CELL + LABEL_PX))
    assert _cell_centre(sheet, 0, 0) == (255, 255, 255)  # the corner is empty
    assert _cell_centre(sheet, 1, 0) == (200, 0, 0)  # style across the top
    assert _cell_centre(sheet, 0, 1) == (0, 0, 200)  # content down the side
    assert _cell_centre(sheet, 1, 1) == (0, 200, 0)  # its result in the cell


def test_a_failed_result_is_a_grey_cell(tmp_path):
    style, content = _solid(tmp_path / "s.png", (200, 0, 0)), _solid(tmp_path / "c.png", (0, 0, 200))
    sheet = contact_sheet([content], [(style,)], {}, cell=CELL)
    assert _cell_centre(sheet, 1, 1) == (200, 200, 200)


def test_a_transparent_png_is_shown_on_white_as_the_run_sees_it(tmp_path):
    clear = _solid(tmp_path / "clear.png", (255, 0, 0, 0), mode="RGBA")  # red, fully transparent
    style = _solid(tmp_path / "s.png", (0, 0, 0))
    sheet = contact_sheet([clear], [(style,)], {}, cell=CELL)
    assert _cell_centre(sheet, 0, 1) == (255, 255, 255)


def test_a_file_over_max_pixels_is_not_decoded_for_its_thumbnail(tmp_path, monkeypatch):
    bomb = bomb_png(tmp_path / "bomb.png")
    style = _solid(tmp_path / "s.png", (0, 0, 0))
    decoded = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or load(self))
    sheet = contact_sheet([bomb], [(style,)], {}, cell=CELL, max_pixels=100_000_000)
    assert _cell_centre(sheet, 0, 1) == (200, 200, 200)  # a grey cell, no DecompressionBombError
    assert (100_000, 100_000) not in decoded
