"""Loading any image as RGB, and atomic saving."""

import pytest
import torch
from PIL import Image

from stylize.errors import RunError
from stylize.media.imageio import load_image, resize_long_edge, save_image

from conftest import heic, without_heif_plugin


def test_alpha_is_composited_on_white(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(path)
    assert load_image(path).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.new("RGB", (40, 20)).save(path, exif=exif)
    assert load_image(path).size == (20, 40)


def test_16_bit_grey_keeps_its_range(tmp_path):
    path = tmp_path / "deep.png"
    Image.new("I;16", (4, 4), 32768).save(path)
    assert load_image(path).getpixel((0, 0)) == (128, 128, 128)


def test_resize_long_edge_keeps_aspect():
    assert resize_long_edge(Image.new("RGB", (451, 300)), 64).size == (64, 43)
    assert resize_long_edge(Image.new("RGB", (30, 60)), 120).size == (60, 120)


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "o.png"
    Image.new("RGB", (4, 4), "red").save(path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(RunError, match="cannot write"):
        save_image(Image.new("RGB", (4, 4)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_a_mask_reads_transparency_as_black(tmp_path):
    from stylize.media.imageio import load_mask

    painted = Image.new("RGBA", (8, 4), (0, 0, 0, 0))
    painted.paste((255, 255, 255, 255), (0, 0, 4, 4))  # white paint on an empty layer: the left half
    painted.save(tmp_path / "layer.png")
    mask = load_mask(tmp_path / "layer.png")
    assert mask.mode == "L" and mask.getpixel((0, 0)) == 255 and mask.getpixel((7, 0)) == 0
    Image.new("RGB", (8, 4), (128, 128, 128)).save(tmp_path / "grey.jpg")
    assert abs(load_mask(tmp_path / "grey.jpg").getpixel((3, 3)) - 128) <= 2


def test_a_mask_is_area_averaged_to_the_image_size():
    from stylize.media.imageio import mask_tensor

    half = Image.new("L", (64, 32), 0)
    half.paste(255, (0, 0, 33, 32))  # 33 of 64 columns: the 2-column block at 32-33 is half white
    weights = mask_tensor(half, 32, 16)
    assert weights.shape == (16, 32) and weights.dtype == torch.float32
    assert weights[0, :16].min() == 1.0 and weights[0, 17:].max() == 0.0 and 0.4 < weights[0, 16] < 0.6


# ---------------------------------------------------------------- phone photos: HEIC/HEIF, AVIF


def test_a_heic_photo_loads_like_a_jpeg(tmp_path):
    from stylize.media.imageio import image_size, still_brand

    from conftest import make_content

    photo = make_content((48, 32))
    path = heic(tmp_path / "IMG_0001.heic", photo)
    assert still_brand(path) == b"heic"
    assert image_size(path) == (48, 32)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (48, 32)
    from stylize.media.imageio import to_tensor

    assert (to_tensor(loaded) - to_tensor(photo)).abs().mean() < 0.03  # lossy, but the same picture


def test_a_heic_photo_without_its_plugin_names_the_package(tmp_path, monkeypatch):
    from stylize.errors import BadInputError

    from conftest import make_content

    path = heic(tmp_path / "IMG_0001.heic", make_content())
    without_heif_plugin(monkeypatch)
    with pytest.raises(BadInputError) as raised:
        load_image(path, "content image")
    assert str(raised.value) == (f"content image '{path}': a HEIC/HEIF photo needs the pillow-heif package:"
                                 " pip install pillow-heif")
