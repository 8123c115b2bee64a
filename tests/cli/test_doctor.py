"""stylize --doctor (doctor.py): one screen of facts about the machine, exit 0, no CONTENT needed."""

from importlib import metadata

import stylize.cli.doctor
import stylize.core.memory
from stylize import __version__


def _lines(cli):
    result = cli("--doctor")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_the_doctor_names_versions_machine_devices_memory_and_weights(cli):
    lines = _lines(cli)
    assert lines[0] == f"stylize {__version__}"
    assert [line.split(" ")[0] for line in lines[1:]] == [
        "Python", "packages:", "CPU:", "devices:", "--device", "memory:", "weights", "weights", "extras:", "browser"]
    assert f"torch {metadata.version('torch')}, torchvision {metadata.version('torchvision')}" in lines[2]
    assert f"pillow-heif {metadata.version('pillow-heif')}" in lines[2]
    assert "--device auto: cpu" in lines[5] or "--device auto: cuda" in lines[5] or "--device auto: mps" in lines[5]
    assert lines[6].startswith("memory: ") and "(less 10%)" in lines[6]
    assert lines[7].startswith("weights bundled (vgg19): ") and lines[7].endswith("(present)")
    assert "vgg19-dcbb9e9d.pth" in lines[8]


def test_the_doctor_says_what_it_could_not_find(cli, monkeypatch):
    monkeypatch.setattr(stylize.core.memory, "available_from", lambda device: (None, "no reading of the memory available"))
    monkeypatch.setattr(stylize.cli.doctor.shutil, "which", lambda name: None)
    find_spec = __import__("importlib.util").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "av" else find_spec(name, *a))
    lines = _lines(cli)
    assert "memory: unknown (no reading of the memory available); runs are planned without a limit" in lines
    assert "video (videos and optical flow): missing av: pip install 'stylize[video]'" in lines[9]
    assert lines[10] == "browser for the preview page's test: none found (Debian: apt-get install chromium)"
