"""One stylization, in the order it is built: the device and precision (device.py), the style
statistics and their distances (statistics.py), the terms (terms.py) and the objective
(objective.py), exact tiles (tiling.py), the memory available and the plan of scales
(memory.py, plan.py), the optimizer loop and its progress reports (optimize.py, progress.py),
style images and masks (styles.py), colour (color.py), and the engine that puts them together
(engine.py)."""
