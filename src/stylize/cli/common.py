"""What every command shares: Click's errors as one line, Ctrl-C and SIGTERM, the input checks.

The CLI package's rules, stated once: an expected failure is one line on stderr (exit 2 for
bad input, 1 for a failed run), 130 for Ctrl-C, 143 for SIGTERM; files are checked before
torch is imported, so a typo fails at once and `--help` is instant.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING

import click

from ..config import StylizeConfig
from ..errors import opt

if TYPE_CHECKING:  # train.py imports this module: the preview's code stays unloaded there
    from ..watch.session import WatchConfig


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same clean stop, but exit code 143."""


class OneLineErrors(click.Command):
    """Click, but a usage error is the single line 'Error: ...' without the usage block, and
    the command alone, with nothing after it, prints its usage and where the help is.

    ``groups``: (title, option names) for --help, by what a user is doing; the options in
    none of them come last, under "Other options".
    """

    def __init__(self, *args, groups: tuple[tuple[str, tuple[str, ...]], ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = groups

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        bare = not (sys.argv[1:] if args is None else list(args))
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as e:
            ctx = getattr(e, "ctx", None)
            if bare and isinstance(e, click.MissingParameter) and ctx is not None:  # a first try, not a typo
                click.echo(f"{ctx.get_usage()}\nTry '{ctx.command_path} --help' for the options and examples.",
                           err=True)
            else:
                click.echo(f"Error: {e.format_message()}", err=True)
            code = e.exit_code
        except (click.Abort, KeyboardInterrupt) as e:  # before a run got anywhere: imports, checks, step 1
            click.echo("Interrupted: nothing was written.", err=True)
            code = 143 if isinstance(e.__cause__ or e, Terminated) else 130  # click wraps it in Abort
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = {p.name: p.get_help_record(ctx) for p in self.get_params(ctx)}
        grouped = {name for _, names in self.groups for name in names}
        other = tuple(name for name in records if name not in grouped)
        for title, names in (*self.groups, ("Other options" if self.groups else "Options", other)):
            rows = [records[name] for name in names if records.get(name)]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Signals:
    """SIGTERM stops a run the way Ctrl-C does; ``code`` is the exit code for the one that came.

    Only where it can be: Windows delivers no SIGTERM from outside (a kill there ends the
    process at once), and only Python's main thread may set a handler (the command called
    from a thread, e.g. by a test runner or a GUI, keeps Ctrl-C's rule alone).
    """

    code = 130
    previous = None

    def __enter__(self):
        def on_term(signum, frame):
            self.code = 143
            raise Terminated

        term = getattr(signal, "SIGTERM", None)
        if term is not None and threading.current_thread() is threading.main_thread():
            self.previous = (term, signal.signal(term, on_term))
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(*self.previous)


def check_inputs(contents: list, styles: list, config: StylizeConfig, masks=None, style_masks=None) -> None:
    """Every input file exists and its header reads, before torch loads (Pillow only)."""
    from ..media.imageio import image_size

    for path in contents:
        image_size(path, "content image", config.max_pixels)
    for path in styles:
        image_size(path, "style image", config.max_pixels)
    for option, what in ((masks, "mask"), (style_masks, "style mask")):
        for path in filter(None, option or ()):
            image_size(path, what, config.max_pixels)
    if config.init not in ("content", "noise"):
        image_size(config.init, f"{opt('init')} image", config.max_pixels)


def check_plot_option(watch: WatchConfig, inputs: list) -> None:
    if watch.plot:
        from ..media.imageio import check_not_an_input
        from ..watch.plot import check_plot

        check_plot(watch.plot)
        check_not_an_input(watch.plot, inputs, f"{opt('plot')} file")
