"""Transfer learning on the same frozen extractor: a classifier head (classify.py) and its
defaults (config.py)."""
