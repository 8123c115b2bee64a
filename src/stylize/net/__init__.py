"""The network: paper layer names (layers.py), where weights come from (weights.py), and the
truncated, frozen feature extractor built from them (features.py)."""
