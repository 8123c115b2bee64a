"""One stylization, in the order it is built: the device and precision (device.py), the style
statistics and losses (losses.py), the objective and its terms (objective.py), exact tiles
(tiling.py), the memory available and the plan of scales (memory.py, plan.py), the optimizer
loop (optimize.py), colour (color.py), and the engine that puts them together (engine.py)."""
