"""The commands, the only code that prints: `stylize` (main.py, a module per kind of job:
single.py, batch.py, video.py, estimate.py) and `stylize-train`/`stylize-predict` (train.py).

Nothing else in the package imports from here. This file imports nothing, so that
`stylize-train` does not load the `stylize` command's modules (video, preview).
"""
