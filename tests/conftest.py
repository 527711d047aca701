"""Shared fixtures: small model configs that build and run in milliseconds on CPU."""

from __future__ import annotations

import pytest
import torch

from ganforge.config import ModelConfig


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(2)


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
