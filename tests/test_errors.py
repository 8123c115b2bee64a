"""Errors name settings in the caller's words: field names from Python, flags on the command line."""

import pytest

from stylize import BadInputError, StylizeConfig, run
from stylize.errors import Message, cli_flag, one_line, opt


def test_a_setting_reads_as_a_field_name_or_a_flag():
    e = BadInputError(f"8 is out of range; raise {opt('max_pixels')} or see {opt('style_scale')}", "size")
    assert str(e) == "size: 8 is out of range; raise max_pixels or see style_scale"
    assert e.render(cli_flag) == "--size: 8 is out of range; raise --max-pixels or see --style-scale"
    assert e.option == "size" and e.exit_code == 2


def test_a_message_that_starts_with_its_setting_is_not_prefixed_again():
    e = BadInputError(f"{opt('size')} 4096: too big", "size")
    assert (str(e), e.render(cli_flag)) == ("size 4096: too big", "--size 4096: too big")


def test_paths_in_a_message_are_left_alone():
    e = BadInputError("content image '/tmp/{size}/--size_x.png': file not found")
    assert one_line(e, cli_flag) == one_line(e) == "content image '/tmp/{size}/--size_x.png': file not found"


def test_notes_render_like_errors():
    note = Message(f"restarted with {opt('lr')} 0.1")
    assert note == "restarted with lr 0.1" and note.render(cli_flag) == "restarted with --lr 0.1"


def test_the_library_speaks_its_own_language(images):
    with pytest.raises(BadInputError) as caught:
        run(images["content"], images["style"], config=StylizeConfig(size=8))
    assert str(caught.value) == "size: 8 is out of range (16 to 16384)"
    assert caught.value.option == "size"
