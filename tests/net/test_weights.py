"""Weight sources: the bundled VGG19, files, and torchvision's download failing offline."""

import time
import urllib.error

import pytest
import torch

from stylize.errors import BadInputError, RunError
from stylize.net.features import build_extractor
from stylize.net.weights import BUNDLED_CONVS, bundled_path, load_weights


def test_bundled_dequantizes_to_table_of_codes():
    packed = torch.load(bundled_path(), map_location="cpu", weights_only=True)
    extractor = build_extractor("vgg19", load_weights("vgg19", "bundled"), ["relu5_1"])
    convs = [m for m in extractor.body if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13  # conv1_1 .. conv5_1
    for name, conv in zip(BUNDLED_CONVS, convs):
        expected = packed[f"{name}_W_table"][packed[f"{name}_W_q"].long()]
        assert torch.equal(conv.weight, expected.float()), name
        assert torch.equal(conv.bias, packed[f"{name}_b"].float()), name


def test_bundled_is_only_vgg19():
    with pytest.raises(BadInputError, match="only vgg19 is bundled"):
        load_weights("vgg16", "bundled")


def test_state_dict_file_round_trip(tmp_path):
    source = build_extractor("vgg16", load_weights("vgg16", "random"), ["relu2_1"], seed=3)
    path = tmp_path / "vgg16.pth"
    torch.save({f"features.{k.removeprefix('body.')}": v for k, v in source.state_dict().items()
                if k.startswith("body.")}, path)
    loaded = build_extractor("vgg16", load_weights("vgg16", str(path)), ["relu2_1"])
    image = torch.rand(1, 3, 16, 16)
    assert torch.equal(loaded(image)["relu2_1"], source(image)["relu2_1"])


def test_wrong_model_file_is_one_clear_error(tmp_path):
    path = tmp_path / "small.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3), "features.0.bias": torch.zeros(8)}, path)
    with pytest.raises(BadInputError, match=r"has shape \(8, 3, 3, 3\), vgg19 needs \(64, 3, 3, 3\)"):
        build_extractor("vgg19", load_weights("vgg19", str(path)), ["relu1_1"])


def test_torchvision_offline_fails_fast_with_one_line(tmp_path, monkeypatch, capsys):
    # No network in tests: make the download fail the way an offline machine does.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    started = time.perf_counter()
    with pytest.raises(RunError) as err:
        load_weights("vgg19", "torchvision")
    assert time.perf_counter() - started < 10
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("weights torchvision: could not download vgg19 weights (Name or service not known)")
    assert "use weights bundled" in message  # the CLI says --weights: see test_errors
    assert capsys.readouterr() == ("", "")  # torch.hub's "Downloading: ..." line is kept off both


def test_a_file_torch_cannot_load_is_one_short_line(tmp_path):
    junk, model = tmp_path / "junk.pth", tmp_path / "model.pth"
    junk.write_bytes(bytes(range(256)) * 40)
    torch.save(torch.nn.Conv2d(3, 8, 3), model)  # a whole pickled module, not a state_dict
    for path in (junk, model):
        with pytest.raises(BadInputError) as err:
            load_weights("vgg19", str(path))
        message = str(err.value)
        assert message.startswith(f"weights '{path}': not a PyTorch state_dict (")
        assert "weights_only" not in message and len(message) < 200, message
