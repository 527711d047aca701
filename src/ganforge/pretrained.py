"""Load a generator and sample from it in three lines:

    import ganforge
    g = ganforge.load("runs/biggan-digits")      # run dir, exported folder/file, converted
    images = g.sample(classes=["7"], n=8, truncation=0.5, seed=0)   # BigGAN-deep, or a hub id

A `PretrainedGenerator` hides what differs between sources: how truncated noise is drawn (the
ganforge resampling threshold, or BigGAN-deep's `t * TN(-2, 2)` with BN statistics chosen by t),
whether the network takes the truncation, and how class names map to indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.sampling import class_ids, to_uint8, truncated_normal

ARCHITECTURES = ("ganforge", "biggan-deep")


@dataclass
class PretrainedGenerator:
    """A generator in eval mode with everything needed to sample from it.

    `architecture`: "ganforge" (any recipe; `config` is its training config) or "biggan-deep"
    (the public pretrained generators; `model_config` holds their config.json fields).
    """

    generator: nn.Module
    class_names: list[str]
    architecture: str = "ganforge"
    config: Config | None = None
    model_config: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)  # provenance and evaluation, for the card

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise GanforgeError(f"unknown generator architecture '{self.architecture}'")
        self.generator.eval().requires_grad_(False)
        if hasattr(self.generator, "bake"):  # BigGAN-deep: normalise its 100+ SN weights once
            self.generator.bake()

    # ---- what the generator is ------------------------------------------------------------------
    @property
    def dim_z(self) -> int:
        return int(self.generator.dim_z)

    @property
    def n_classes(self) -> int:
        """Number of classes; 0 for an unconditional generator."""
        if self.config is not None and not self.config.model.conditional:
            return 0
        return len(self.class_names)

    @property
    def resolution(self) -> int:
        if self.config is not None:
            return self.config.model.resolution
        return int(self.generator.resolution)

    @property
    def takes_truncation(self) -> bool:
        """BigGAN-deep picks BN statistics by truncation, so truncation is part of its input."""
        return self.architecture == "biggan-deep"

    @property
    def soft_classes(self) -> bool:
        """Whether float class vectors (mixes of classes) are understood: class interpolation."""
        if self.architecture == "biggan-deep":
            return True
        return self.config is not None and self.config.model.conditional and (
            self.config.model.arch in ("biggan", "dcgan", "mlp")
        )

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: str | torch.device) -> PretrainedGenerator:
        self.generator.to(device)
        return self

    # ---- inputs -----------------------------------------------------------------------------------
    def check_truncation(self, truncation: float | None) -> float | None:
        if truncation is None:
            return 1.0 if self.takes_truncation else None
        if not truncation > 0:
            raise GanforgeError(f"truncation must be a positive number, got {truncation}")
        if self.takes_truncation and truncation > 1:
            raise GanforgeError(f"BigGAN-deep's truncation must be in (0, 1], got {truncation}")
        return float(truncation)

    def latents(self, count: int, truncation: float | None = None, seed: int = 0) -> torch.Tensor:
        """`count` latent vectors; the same seed and truncation give the same vectors."""
        truncation = self.check_truncation(truncation)
        rng = torch.Generator().manual_seed(seed)
        if self.takes_truncation:  # the convention BigGAN-deep's BN statistics were stored for
            return truncation * truncated_normal((count, self.dim_z), 2.0, rng)
        return truncated_normal((count, self.dim_z), truncation, rng)

    def class_ids(self, classes: Sequence[int | str] | None) -> list[int]:
        """Names (exact, or case-insensitive synonym like "golden retriever") or ids -> ids."""
        if self.n_classes == 0:  # G ignores the label; given classes still make one row each
            if classes and not self.class_names:
                raise GanforgeError("this generator is unconditional: it takes no classes")
            return class_ids(classes, self.class_names) if classes else [0]
        if not classes:
            return list(range(min(self.n_classes, 10)))
        return class_ids(classes, self.class_names)

    def class_vectors(self, ids: Sequence[int]) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.tensor(list(ids)), self.n_classes).float()

    # ---- generating -------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self, z: torch.Tensor, y: torch.Tensor, truncation: float | None = None, batch_size: int = 64
    ) -> torch.Tensor:
        """Images in [-1, 1] (N, C, H, W) on the CPU for latents z and labels y.

        y: class ids (N,) or float class vectors (N, n_classes) for generators that mix classes.
        """
        if y.is_floating_point() and not self.soft_classes:
            raise GanforgeError("this generator takes class ids only; mixing classes needs a "
                                "BigGAN-style class embedding (arch biggan, dcgan, mlp or biggan-deep)")
        truncation = self.check_truncation(truncation)
        out = []
        for zb, yb in zip(z.split(batch_size), y.split(batch_size), strict=True):
            zb, yb = zb.to(self.device), yb.to(self.device)
            if self.takes_truncation:
                images = self.generator(zb, yb, truncation)
            else:
                images = self.generator(zb, yb)
            out.append(images.float().cpu())
        return torch.cat(out)

    def sample(
        self,
        classes: Sequence[int | str] | None = None,
        n: int = 1,
        truncation: float | None = None,
        seed: int = 0,
    ) -> torch.Tensor:
        """n images per class (class-major order), in [-1, 1]; same seed, same images."""
        if n <= 0:
            raise GanforgeError(f"n must be a positive integer, got {n}")
        ids = self.class_ids(classes)
        labels = torch.tensor(ids).repeat_interleave(n)
        z = self.latents(labels.shape[0], truncation, seed)
        return self.generate(z, labels, truncation)

    def images(self, *args: Any, **kwargs: Any) -> list[Image.Image]:
        """`sample(...)` as PIL images."""
        arrays = to_uint8(self.sample(*args, **kwargs))
        return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arrays]

    # ---- sharing ------------------------------------------------------------------------------------
    def save_pretrained(self, directory: Path | str) -> Path:
        """model.safetensors + config.json + README.md (model card) in `directory`."""
        from ganforge.hub import save_generator_folder

        return save_generator_folder(self, Path(directory))

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None) -> str:
        """Upload the exported folder to the Hugging Face Hub; returns the repository URL."""
        from ganforge.hub import push_folder_to_hub

        return push_folder_to_hub(self, repo_id, private=private, token=token)

    @classmethod
    def from_pretrained(
        cls, source: Path | str, device: str | torch.device = "cpu"
    ) -> PretrainedGenerator:
        return load(source, device=device)


def load(source: Path | str, device: str | torch.device = "cpu") -> PretrainedGenerator:
    """A run directory, an exported folder or .safetensors file, a BigGAN-deep checkpoint folder
    (pytorch_model.bin + config.json), or a Hugging Face Hub id ("user/name")."""
    from ganforge.hub import load_any

    return load_any(source).to(device)
