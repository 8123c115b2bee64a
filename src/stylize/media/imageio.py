"""Image files in and out: the only module that touches Pillow.

Loading turns any image Pillow opens into sRGB (size checked from the header before
decoding, EXIF orientation applied, an embedded ICC profile converted, alpha
composited on white); saving is atomic (temporary file + rename) so a crash or
Ctrl-C never leaves a half-written file under the output's name, and says sRGB.

Torch is imported only by the tensor conversions, so the CLI can check every file
before it waits for torch to load.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from PIL import Image, ImageCms, ImageOps, PngImagePlugin, UnidentifiedImageError

from ..config import MAX_PIXELS

if TYPE_CHECKING:
    import torch
from ..errors import BadInputError, RunError, opt

# Extra save arguments per format: high quality, no chroma subsampling for JPEG.
_SAVE_OPTIONS = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95}}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_SRGB = ImageCms.createProfile("sRGB")
# Bytes 24-35 of an ICC header are its creation time: lcms stamps "now", which would make
# the same run write different files a second apart. A fixed stamp keeps outputs reproducible.
_SRGB_BYTES = (lambda b: b[:24] + bytes(12) + b[36:])(ImageCms.ImageCmsProfile(_SRGB).tobytes())


# ISO base media files whose major brand says still image (HEIC/HEIF from phones, AVIF): FFmpeg
# opens them as "mov,mp4", so without this they would pass for a one-frame video.
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
STILL_BRANDS = HEIF_BRANDS + (b"avif", b"avis")


@functools.lru_cache(maxsize=1)
def register_plugins() -> bool:
    """Teach Pillow HEIC/HEIF (an iPhone's default format) through pillow-heif, once, on first use.

    False where pillow-heif is missing: a HEIC file then gets an error that names it.
    """
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def still_brand(path: str | os.PathLike) -> bytes | None:
    """The major brand of an ISO base media file that holds a still image (b"heic", b"avif"), else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    return head[8:12] if head[4:8] == b"ftyp" and head[8:12] in STILL_BRANDS else None


def load_image(path: str | os.PathLike, what: str = "image", max_pixels: int = MAX_PIXELS,
               convert: Callable[[Image.Image], Image.Image] | None = None) -> Image.Image:
    """Open ``path`` as an sRGB image (or what ``convert`` makes of it) or raise BadInputError naming the file."""
    with _opened(path, what, max_pixels) as (im, where):
        try:
            im.load()  # decode now, so truncated data fails here rather than mid-run
            return (convert or normalize)(im)
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise BadInputError(f"{where}: image data is truncated or corrupt ({e})") from None


def load_mask(path: str | os.PathLike, what: str = "mask", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``path`` as a mask (mode L: white = 1, black = 0) or raise BadInputError naming the file."""
    return load_image(path, what, max_pixels, convert=mask_of)


def mask_of(im: Image.Image) -> Image.Image:
    """Any Pillow image -> an upright greyscale mask. Transparency counts as black: a region
    painted on an empty layer is the painted part (images are composited on white instead)."""
    return _to_rgb(ImageOps.exif_transpose(im), background=(0, 0, 0)).convert("L")


def image_size(path: str | os.PathLike, what: str = "image", max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) as displayed (EXIF rotation counted), from the header alone: no decoding.

    The same checks as :func:`load_image` short of the pixel data, so the CLI can refuse a
    missing, unreadable or oversized file at once.
    """
    with _opened(path, what, max_pixels) as (im, _):
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)
        return (h, w) if orientation in (5, 6, 7, 8) else (w, h)  # 5-8 turn the picture a quarter


@contextlib.contextmanager
def _opened(path: str | os.PathLike, what: str, max_pixels: int):
    """Pillow's lazily opened image (header read, size checked) and how errors name it."""
    p = Path(path)
    where = f"{what} '{path}'"
    if not p.exists():
        raise BadInputError(f"{where}: file not found")
    if p.is_dir():
        raise BadInputError(f"{where}: is a directory, expected an image file")
    if p.stat().st_size == 0:
        raise BadInputError(f"{where}: file is empty")
    register_plugins()
    try:
        # Pillow warns about recoverable damage (corrupt EXIF); the image loads, stderr stays clean.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _our_pixel_limit(), Image.open(p) as im:
                _check_pixels(im, where, max_pixels)  # from the header: nothing is decoded yet
                yield im, where
    except UnidentifiedImageError:
        if still_brand(p) in HEIF_BRANDS and not register_plugins():
            raise BadInputError(f"{where}: a HEIC/HEIF photo needs the pillow-heif package:"
                                " pip install pillow-heif") from None
        raise BadInputError(f"{where}: not an image file Pillow can read") from None
    except PermissionError:
        raise BadInputError(f"{where}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BadInputError(f"{where}: image data is truncated or corrupt ({e})") from None


def normalize(im: Image.Image) -> Image.Image:
    """Any Pillow image -> what a run sees: upright, sRGB, RGB with alpha composited on white.

    Files go through it on loading; in-memory images given to the library do too.
    """
    return _to_rgb(to_srgb(ImageOps.exif_transpose(im)))


@contextlib.contextmanager
def _our_pixel_limit():
    """Pillow's own bomb check would refuse before ours could name the max_pixels setting."""
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _check_pixels(im: Image.Image, where: str, max_pixels: int) -> None:
    w, h = im.size
    if max_pixels and w * h > max_pixels:
        raise BadInputError(
            f"{where}: {w}x{h} px ({w * h / 1e6:.0f} MP) is over the {opt('max_pixels')} limit of"
            f" {max_pixels / 1e6:g} MP; raise {opt('max_pixels')} to allow it"
        )


def to_srgb(im: Image.Image) -> Image.Image:
    """Convert with the embedded ICC profile, if any: an Adobe RGB or P3 photo keeps its colours."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return im
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(im, source, _SRGB, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im  # a broken profile: use the pixels as they are, like most viewers


def _to_rgb(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any mode -> RGB; transparency composited on ``background``."""
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in _ALPHA_MODES:
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (*background, 255)), rgba).convert("RGB")
    if im.mode.startswith("I;16") or im.mode == "I":
        # 16-bit greys: a plain convert() would clip everything above 255 to white.
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif im.mode == "F":
        lo, hi = im.getextrema()
        im = im.point(lambda v: v * (255.0 if hi <= 1.0 else 1.0)).convert("L")
    return im.convert("RGB")


def long_edge_dims(dims: tuple[int, int], size: int) -> tuple[int, int]:
    """(w, h) scaled so the longer side is ``size``, keeping the aspect ratio."""
    w, h = dims
    scale = size / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def resize_long_edge(im: Image.Image, size: int) -> Image.Image:
    """Scale (up or down) so the longer side is ``size`` px, keeping the aspect ratio."""
    new = long_edge_dims(im.size, size)
    if new == im.size:
        return im
    return im.resize(new, Image.Resampling.LANCZOS)


def to_tensor(im: Image.Image) -> "torch.Tensor":
    """RGB PIL image -> float tensor (1, 3, H, W) in [0, 1]."""
    from torchvision.transforms.functional import pil_to_tensor

    return pil_to_tensor(im).float().div_(255).unsqueeze(0).contiguous()


def mask_tensor(mask: Image.Image, width: int, height: int) -> "torch.Tensor":
    """A mask resized (area-averaged, so soft edges stay soft) to (height, width) weights in [0, 1]."""
    from torchvision.transforms.functional import pil_to_tensor

    resized = mask.resize((width, height), Image.Resampling.BOX if mask.width >= width else Image.Resampling.BILINEAR)
    return pil_to_tensor(resized).float().div_(255)[0]


def to_image(x: "torch.Tensor") -> Image.Image:
    """Float tensor (1, 3, H, W) -> RGB PIL image, clamped and rounded to 8 bits."""
    from torchvision.transforms.functional import to_pil_image

    return to_pil_image(x.detach()[0].clamp(0, 1).mul(255).round().byte().cpu())


def format_of(ext: str) -> str | None:
    """Pillow's format name for a file extension ('.png' or 'png'), if Pillow can write it."""
    Image.init()
    fmt = Image.registered_extensions().get("." + ext.lower().lstrip("."))
    return fmt if fmt in Image.SAVE else None


def is_image_name(path: str | os.PathLike) -> bool:
    """Whether the name ends in an extension Pillow writes (out.png: yes; stylized/: no)."""
    return bool(Path(path).suffix) and format_of(Path(path).suffix) is not None


def check_format(ext: str) -> str:
    """Pillow's format name for the batch ``format`` setting, or BadInputError."""
    fmt = format_of(ext)
    if fmt is None:
        raise BadInputError(f"cannot write '{ext.lstrip('.')}' files; use png, jpg, webp or tif", "format")
    return fmt


def output_format(path: str | os.PathLike) -> str:
    """Pillow's format name for an output path, or BadInputError."""
    ext = Path(path).suffix
    fmt = format_of(ext) if ext else None
    if fmt is None:
        what = f"'{ext}' files" if ext else "a file without an extension"
        raise BadInputError(f"output '{path}': cannot write {what}; use .png, .jpg, .webp or .tif")
    return fmt


def check_output(path: str | os.PathLike) -> None:
    """Fail before any work if ``path`` cannot be written as an image."""
    if Path(path).is_dir():
        raise BadInputError(f"output '{path}': is a folder; name a file in it, e.g. '{Path(path) / 'out.png'}'")
    output_format(path)
    check_writable(path)


def check_writable(path: str | os.PathLike) -> None:
    """Fail before any work if a file cannot be written at ``path`` (any format).

    Missing folders on the way are fine: they are made when the file is written (atomic_write,
    as a batch makes its output folder), so the nearest one that exists must take them.
    """
    p = Path(path)
    if p.is_dir():
        raise BadInputError(f"output '{path}': is a folder")
    folder = next((f for f in p.parents if f.exists() or f.is_symlink()), Path.cwd())
    if not folder.is_dir():
        raise BadInputError(f"output '{path}': '{folder}' is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInputError(f"output '{path}': folder '{folder}' is not writable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(im: Image.Image, path: str | os.PathLike, text: dict[str, str] | None = None) -> None:
    """Write ``im`` atomically; ``text`` goes into PNG text chunks."""
    fmt = output_format(path)
    options = dict(_SAVE_OPTIONS.get(fmt, {}))
    if fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        options["icc_profile"] = _SRGB_BYTES  # the pixels are sRGB; say so
    if fmt == "PNG" and text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_itxt(key, value)
        options["pnginfo"] = info
    atomic_write(path, lambda f: im.save(f, format=fmt, **options))


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """``write(file)`` into a temporary file beside ``path`` (its folders made if missing), then
    rename it into place.

    A crash or Ctrl-C never leaves a partial file under the final name; an OSError
    becomes one RunError line naming the output.
    """
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)  # check_writable let missing folders through
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as e:
        raise RunError(f"output '{path}': cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, p)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise RunError(f"output '{path}': cannot write ({e.strerror or e})") from None
        raise


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (through links, '..' and, on Windows, letter case), existing or not."""
    try:
        return os.path.samefile(a, b)  # the file system's own answer: inodes, or Windows' file IDs
    except OSError:  # one of them does not exist yet: compare names as this OS does (normcase folds case on Windows)
        return os.path.normcase(Path(a).resolve()) == os.path.normcase(Path(b).resolve())


def check_not_an_input(output: str | os.PathLike, inputs: list, what: str = "output") -> None:
    """Refuse to write over one of the run's own inputs."""
    for source in inputs:
        if source is not None and Path(source).exists() and same_file(output, source):
            raise BadInputError(f"{what} '{output}' is the input file '{source}'; writing it would destroy the input")
