"""Training: the one loop, its tasks and methods, and what they share (checkpoints, run directory, guard, precision, torchrun)."""
