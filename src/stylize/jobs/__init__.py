"""Work made of many stylizations with one loaded network: a folder of images (batch.py), the
frames of a video (video.py)."""
