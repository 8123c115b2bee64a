"""`python -m stylize` is the `stylize` command."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="stylize")
