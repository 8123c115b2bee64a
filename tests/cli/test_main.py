"""The `stylize` command's front: the bare command, --help in sections, the sections' contents."""

import subprocess
import sys

import click
from click.testing import CliRunner

from stylize.cli.main import HELP_GROUPS, main


def test_the_bare_command_prints_its_usage_and_where_the_help_is():
    done = subprocess.run([sys.executable, "-m", "stylize"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("Usage: stylize [OPTIONS] CONTENT STYLE...\n"
                           "Try 'stylize --help' for the options and examples.\n")


def test_a_missing_style_is_still_one_error_line(cli, images):
    result = cli(images["content"])
    assert result.exit_code == 2 and result.stderr == "Error: Missing argument 'STYLE...'.\n"


def test_help_shows_the_options_in_sections_by_what_a_user_is_doing():
    text = CliRunner().invoke(main, ["--help"], terminal_width=200).output
    titles = [line[:-1] for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert titles == [title for title, _ in HELP_GROUPS] + ["Other options"]
    other = text[text.index("Other options:"):]
    assert [line.split()[0] for line in other.splitlines()[1:] if line.startswith("  -")] == [
        "--version", "--doctor", "-h,"]


def test_every_option_is_in_one_section():
    options = [p.name for p in main.params if isinstance(p, click.Option)]
    placed = [name for _, names in HELP_GROUPS for name in names]
    assert len(placed) == len(set(placed)) and set(placed) <= set(options)
    assert sorted(set(options) - set(placed)) == ["doctor", "version"]  # and --help: Other options


def test_the_kind_of_job_is_decided_once_from_content_and_style(images, tmp_path):
    import pytest

    from stylize import BadInputError
    from stylize.cli.main import job_kind

    from conftest import make_clip

    folder = tmp_path / "photos"
    folder.mkdir()
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=0)
    (tmp_path / "renamed.png").write_bytes(clip.read_bytes())  # a video by its content, whatever its name
    assert job_kind(str(images["content"]), [str(images["style"])], False) == "image"
    assert job_kind(str(folder), [str(images["style"])], False) == "folder"
    assert job_kind(str(images["content"]), [str(folder)], False) == "folder"
    assert job_kind(str(clip), [str(images["style"])], False) == "video"
    assert job_kind(str(tmp_path / "renamed.png"), [str(images["style"])], False) == "video"
    assert job_kind(str(tmp_path / "missing.mov"), [str(images["style"])], False) == "video"  # its name says so
    assert job_kind(str(folder), [str(images["style"])], True) == "frames"
    with pytest.raises(BadInputError, match="is not a folder of frames"):
        job_kind(str(clip), [str(images["style"])], True)
