"""`python -m stylize` is the `stylize` command."""

from .cli.main import main

if __name__ == "__main__":
    main(prog_name="stylize")
