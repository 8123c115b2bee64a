"""The style side of a run: moments cached per style file and scale, not for images in memory."""

from PIL import Image

from stylize.config import StylizeConfig, validate
from stylize.core.styles import StyleBank
from stylize.media.imageio import to_tensor
from stylize.net.features import build_extractor
from stylize.net.weights import load_weights

from conftest import make_content, make_style


def test_moments_are_computed_once_per_style_file_and_scale(tmp_path, monkeypatch):
    import stylize.core.styles

    cfg = validate(StylizeConfig(weights="random"), 1).resolved()
    extractor = build_extractor("vgg19", load_weights("vgg19", "random"), [*cfg.style_layers, cfg.content_layer])
    bank, computed = StyleBank(extractor, cfg), []
    real = stylize.core.styles.style_moments
    monkeypatch.setattr(stylize.core.styles, "style_moments", lambda *a, **k: computed.append(1) or real(*a, **k))
    make_style().save(tmp_path / "s.png")
    content = to_tensor(make_content())
    first = bank.targets([tmp_path / "s.png"], content, 48)
    assert set(first) == set(cfg.style_layers) and len(computed) == 1
    bank.targets([tmp_path / "s.png"], content, 48)
    assert len(computed) == 1  # the same file at the same scale: cached
    bank.targets([tmp_path / "s.png"], content, 32)
    assert len(computed) == 2  # another scale
    in_memory = Image.open(tmp_path / "s.png").convert("RGB")
    bank.targets([in_memory], content, 48)
    bank.targets([in_memory], content, 48)
    assert len(computed) == 4  # an image in memory may change between calls: never cached
