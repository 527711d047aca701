"""The layouts a layout-to-image generator (LostGAN) is evaluated on: the boxes of the reference
data (`eval --data`, default the run's training data), fitted to the generator's object slots
as in training, taken in data order (the first n, repeated cyclically when n exceeds them) with
z drawn from the eval seed, so the in-training evaluation, `eval` and `sweep` draw the same
images for the same seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganforge.data import load_dataset
from ganforge.data.layouts import fit_layouts
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.metrics.layout import LayoutInputs
from ganforge.metrics.order import content_order


@dataclass
class LayoutPool:
    layouts: torch.Tensor  # (L, slots, 5)
    class_names: list[str]
    data: str

    @property
    def describe(self) -> str:
        return (f"the first layouts of the {len(self.layouts)} of '{self.data}' (in data order, cyclic), "
                "z drawn with the eval seed")

    def take(self, n: int) -> torch.Tensor:
        """The first n layouts, repeated cyclically when n exceeds them."""
        return self.layouts[torch.arange(n) % len(self.layouts)]

    def generate(self, g: Generator, n: int, truncation: float | None, seed: int, batch_size: int,
                 convert: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, LayoutInputs]:
        """n uint8 images (content order) for the first n layouts, and what the layout metrics need."""
        layouts = self.take(n)
        z = g.draw_latents(n, truncation, torch.Generator().manual_seed(seed))
        images = g.generate(z, layouts, truncation, batch_size=batch_size, convert=convert)
        order = content_order(images)
        images, layouts = images[order], layouts[order]
        floats = images.float() / 127.5 - 1.0  # the metrics judge what was saved, as FID does
        return images, LayoutInputs(floats, layouts, list(self.class_names))


def layout_pool(data: str, resolution: int, channels: int, slots: int, class_names: list[str]) -> LayoutPool:
    """The layouts of `data` for a generator with `slots` object slots and these classes."""
    dataset = load_dataset(data, resolution, channels)
    if list(dataset.class_names) != list(class_names):
        raise GanforgeError(f"--data {data} has the classes {list(dataset.class_names)[:6]}..., the generator "
                            f"{list(class_names)[:6]}...: evaluate on layouts of its own classes")
    dataset = fit_layouts(dataset, slots)
    return LayoutPool(dataset.layouts, list(dataset.class_names), data)
