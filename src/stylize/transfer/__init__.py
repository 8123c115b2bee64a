"""Transfer learning on the same frozen extractor: the training images and their cached
features (data.py), a classifier head trained on them and used to predict (classify.py), and
their defaults (config.py)."""
