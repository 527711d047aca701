"""The image pool (Shrivastava et al. 2017, used by CycleGAN): D is updated with a history of
generated images rather than only the latest ones, which damps oscillation between G and D.

Until the pool holds `size` images, every image is stored and returned as is. After that each
incoming image is, with probability 1/2, swapped for a stored one (which is returned in its
place), else returned as is. The draws come from the pool's own seeded generator, and the
contents and generator state are checkpointed, so a resumed run sees the same history.
"""

from __future__ import annotations

from typing import Any

import torch


class ImagePool:
    """A buffer of up to `size` generated images; `size=0` passes images straight through."""

    def __init__(self, size: int, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch the same shape as `images`, each item either new or from the history."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand((), generator=self.rng)) > 0.5:
                slot = int(torch.randint(self.size, (), generator=self.rng))
                out.append(self.images[slot])
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        stored = torch.stack(self.images).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": stored, "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self.size = int(state["size"])
        self.images = (
            [image.to(device) for image in state["images"]] if state["images"].numel() else []
        )
        self.rng.set_state(state["rng"])
