"""Watching a run: the losses over the iterations (curves.py), the live page (preview.py,
preview.html), the loss plot (plot.py), and one command's watch session (session.py)."""
