"""Measurements of generators: class accuracy of conditional samples (more in later issues)."""
