"""Tasks the one training loop drives: generation (GANs) and translation."""
