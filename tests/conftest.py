"""Shared fixtures: small model configs that build and run in milliseconds on CPU."""

from __future__ import annotations

import os

# `make test` runs the suite on every core with pytest-xdist, one file per worker at a time: there
# each worker, and every CLI subprocess it starts, gets one thread (two workers with two spinning
# OpenMP threads each would fight over two cores). A plain `pytest` keeps two threads.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = 1 if WORKERS > 1 else 2
if WORKERS > 1:
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402 - after the thread setting, which must precede torch's import
import torch  # noqa: E402

from ganforge.config import ModelConfig  # noqa: E402


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Reference-feature caches go to a temporary folder, never the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(tmp_path_factory.mktemp("ganforge-cache")))
    yield
    mp.undo()


def small_model(resolution: int = 32, **kw: object) -> ModelConfig:
    """A narrow BigGAN with every feature on (hierarchical z, shared embedding, attention)."""
    blocks = {32: 3, 64: 4, 128: 5, 256: 6, 512: 7}[resolution]
    base = dict(
        resolution=resolution, ch=8, n_classes=5, img_channels=3,
        g_channels=[8] * 2 + [4] * (blocks - 1), d_channels=[2] * (blocks - 1) + [8, 8],
        d_downsample=[True] * blocks + [False], g_attention=[16], d_attention=[16],
        dim_z=(blocks + 1) * 4, shared_dim=16, hierarchical_z=True,
    )
    base.update(kw)
    return ModelConfig(**base)
