"""Pictures in and out: images (imageio.py: load, orient, resize, save atomically), videos and
folders of frames (videoio.py), optical flow between frames (flow.py), contact sheets (grid.py)."""
