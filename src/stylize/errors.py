"""The library's exception types. Only the CLI turns them into exit codes.

A message names the settings it is about with :func:`opt`, never with a CLI flag: the
same error reads ``size: 8 is out of range`` from Python and ``--size: 8 is out of
range`` on the command line (:meth:`StylizeError.render` picks the wording).
"""

from __future__ import annotations

import re
from typing import Callable, Optional

_OPTION = re.compile("\0(\\w+)\0")


def opt(field: str) -> str:
    """A setting named inside a message: rendered as ``field`` by the API, ``--field`` by the CLI.

    NUL marks it because no file name can contain one, so paths in a message are never mistaken.
    """
    return f"\0{field}\0"


def api_name(field: str) -> str:
    return field


def cli_flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def render(text: str, name: Callable[[str], str] = api_name) -> str:
    """``text`` with every opt()-marked setting named by ``name`` (api_name or cli_flag)."""
    return _OPTION.sub(lambda m: name(m.group(1)), getattr(text, "template", text))


class Message(str):
    """A note naming settings with opt(): reads in the API's words as a str, ``render`` gives others."""

    def __new__(cls, template: str):
        message = super().__new__(cls, render(template))
        message.template = template
        return message

    def render(self, name: Callable[[str], str] = api_name) -> str:
        return render(self.template, name)


class StylizeError(Exception):
    """Base class: a failure the user should see as one line, without a traceback.

    ``option`` is the setting the error is about (a StylizeConfig field name), if one is.
    """

    exit_code = 1

    def __init__(self, message: str, option: Optional[str] = None):
        self.option = option
        # "size: 8 is out of range", unless the message starts by naming it ("size 4096: a ...")
        named = option is None or message.startswith(opt(option))
        self.template = message if named else f"{opt(option)}: {message}"
        super().__init__(self.render())

    def render(self, name: Callable[[str], str] = api_name) -> str:
        """The message with every setting named by ``name`` (api_name or cli_flag)."""
        return render(self.template, name)


class BadInputError(StylizeError):
    """The user's input is wrong: a file, an option value, a layer name (exit 2)."""

    exit_code = 2


class RunError(StylizeError):
    """A well-formed run failed: a download, the device, writing the output (exit 1)."""

    exit_code = 1


class Interrupted(StylizeError):
    """The run was stopped (Ctrl-C) after ``step`` iterations (at least one).

    ``result`` is an engine.Result of the last finished iterate at the output's size;
    ``result.save(path)`` keeps it. Before the first step there is no result: a plain
    KeyboardInterrupt goes through instead, since the unchanged photo is no stylization.
    """

    exit_code = 130

    def __init__(self, result, step: int):
        super().__init__(f"interrupted at iteration {step}")
        self.result = result
        self.step = step

    @property
    def image(self):
        return self.result.image


class StopRun(Exception):
    """Raised by an ``on_progress`` callback to end the run now, keeping the image so far.

    Not an error: the run returns its Result as usual, the last finished iterate at the
    output's size, with ``stopped`` set (a preview page's stop button, a time budget, a
    callback that likes what it sees). A batch finishes nothing more and keeps what is done.
    """


def one_line(e: BaseException, name: Callable[[str], str] = api_name) -> str:
    """The first line of an exception's message: errors are shown as one line."""
    text = e.render(name) if isinstance(e, StylizeError) else str(e)
    text = text.strip() or type(e).__name__
    return text.splitlines()[0].strip()


def load_failure(e: Exception) -> str:
    """Why torch.load refused a file, in a few words.

    torch's weights_only refusal is a paragraph about trusting the file; the reason (a bad
    opcode, or a pickled object where tensors were expected) is the exception it wraps.
    """
    reason = one_line(e.__cause__ or e.__context__ or e)
    found = re.match(r"Unsupported global: GLOBAL (\S+)", reason)
    if found:
        return f"it holds a pickled {found.group(1)}, not only tensors"
    return reason
