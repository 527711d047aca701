"""What a translation step trains on: batches of (A, B) with random jitter, or (StarGAN) of
images with their attribute labels.

Each image (a pair: both halves alike) is cut to a random `crop_size` square of its
`load_size` copy and flipped left-right with probability 1/2 when `data.hflip` is on
(pix2pix's "random jitter": resize to 286, crop 256, mirror). Paired data is drawn as pairs;
unpaired domains are drawn in independent orders. The data order and the jitter come from
seeded generators whose state is checkpointed, so a resumed run sees the same batches.
"""

from __future__ import annotations

from typing import Any

import torch

from ganforge.data import ImageDataset
from ganforge.data.batches import BatchStream
from ganforge.data.streamed import StreamedDataset
from ganforge.errors import GanforgeError
from ganforge.translation.data_types import Images


def _as_dataset(images: Images, source: str) -> ImageDataset | StreamedDataset:
    if isinstance(images, StreamedDataset):
        return images
    return ImageDataset(images, torch.zeros(images.shape[0], dtype=torch.long), ["images"], source)


def _channels(images: Images) -> int:
    return images.shape[0] if isinstance(images, StreamedDataset) else images.shape[1]


def random_jitter(
    images: torch.Tensor, crop: int, flip: bool, generator: torch.Generator,
    share: slice | None = None, total: int | None = None,
) -> torch.Tensor:
    """uint8 (N, C, L, L) -> uint8 (N, C, crop, crop): a random crop per image, then an
    optional left-right flip per image.

    `images` may be only the rows `share` of a batch of `total`: the draws are made for the
    whole batch, so every rank crops its share exactly as one rank crops the whole batch."""
    n, side = (images.shape[0] if total is None else total), images.shape[-1]
    offsets = torch.randint(0, side - crop + 1, (n, 2), generator=generator).tolist()
    flips = (torch.rand(n, generator=generator) < 0.5).tolist() if flip else [False] * n
    if share is not None:
        offsets, flips = offsets[share], flips[share]
    out = torch.empty((images.shape[0], images.shape[1], crop, crop), dtype=images.dtype,
                      device=images.device)
    for i, ((top, left), mirror) in enumerate(zip(offsets, flips, strict=True)):
        patch = images[i, :, top : top + crop, left : left + crop]
        out[i] = patch.flip(-1) if mirror else patch
    return out


class TranslationStream:
    """Batches of (A, B) uint8 crops: pairs kept together, or two independent domains.

    Images are tensors or datasets on disk (`pairs`: prepared pairs, one read a pair); each
    rank reads only its share of every global batch, prefetching `prefetch` batches ahead."""

    def __init__(
        self,
        train_a: Images,
        train_b: Images,
        paired: bool,
        batch_size: int,
        crop: int,
        flip: bool,
        seed: int,
        shard: tuple[int, int] = (0, 1),
        pairs: StreamedDataset | None = None,
        prefetch: int = 0,
        pin: bool = False,
    ) -> None:
        self.paired, self.crop, self.flip = paired, crop, flip
        self.batch_size = batch_size
        rank, world = shard
        if batch_size % world:
            raise GanforgeError(f"batch size {batch_size} does not split evenly among {world} ranks")
        share = batch_size // world
        self.share = slice(rank * share, (rank + 1) * share)
        self.channels_a = _channels(train_a)
        reads = {"shard": shard, "prefetch": prefetch, "pin": pin}
        if paired:
            if pairs is None:
                assert isinstance(train_a, torch.Tensor) and isinstance(train_b, torch.Tensor)
                both: Images = torch.cat([train_a, train_b], 1)  # one crop and flip per pair
            else:
                both = pairs
            self.streams = {
                "AB": BatchStream(_as_dataset(both, "the training pairs"), batch_size, seed,
                                  **reads)
            }
        else:
            self.streams = {
                "A": BatchStream(_as_dataset(train_a, "training domain A"), batch_size, seed,
                                 **reads),
                "B": BatchStream(_as_dataset(train_b, "training domain B"), batch_size, seed + 1,
                                 **reads),
            }
        self.jitter = torch.Generator().manual_seed(seed + 2)
        if crop > train_a.shape[-1]:
            raise GanforgeError(
                f"crop {crop} is larger than the loaded images ({train_a.shape[-1]})"
            )

    @property
    def sizes(self) -> dict[str, int]:
        return {name: len(stream.dataset) for name, stream in self.streams.items()}

    def _jitter(self, images: torch.Tensor) -> torch.Tensor:
        return random_jitter(images, self.crop, self.flip, self.jitter, self.share,
                             self.batch_size)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (A batch, B batch): this rank's share of the next global batch.

        The jitter is drawn for the whole global batch and each rank applies its share, so
        the images a step trains on do not depend on the number of ranks.
        """
        if self.paired:
            both, _ = self.streams["AB"].next()
            both = self._jitter(both)
            return both[:, : self.channels_a], both[:, self.channels_a :]
        a, _ = self.streams["A"].next()
        b, _ = self.streams["B"].next()
        return self._jitter(a), self._jitter(b)

    def close(self) -> None:
        for stream in self.streams.values():
            stream.close()

    def state_dict(self) -> dict[str, Any]:
        return {
            "streams": {k: s.state_dict() for k, s in self.streams.items()},
            "jitter": self.jitter.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state["streams"]) != set(self.streams):
            raise GanforgeError(
                "the checkpoint's data streams do not match this data "
                "(paired vs unpaired); resume with the run's own --data"
            )
        for key, stream in self.streams.items():
            stream.load_state_dict(state["streams"][key])
        self.jitter.set_state(state["jitter"])


class AttributeStream:
    """Batches of (uint8 crops, float 0/1 attribute labels (N, K)): one domain with labels.

    The order comes from a BatchStream over the image indices, so the labels follow their
    images through the same seeded, checkpointed order; crops and flips as TranslationStream's.
    """

    def __init__(self, images: torch.Tensor, attributes: torch.Tensor, batch_size: int, crop: int,
                 flip: bool, seed: int, shard: tuple[int, int] = (0, 1)) -> None:
        n = images.shape[0]
        if attributes.shape[0] != n:
            raise GanforgeError(f"{n} training images but {attributes.shape[0]} attribute rows")
        if crop > images.shape[-1]:
            raise GanforgeError(f"crop {crop} is larger than the loaded images ({images.shape[-1]})")
        index = ImageDataset(images, torch.arange(n), [str(i) for i in range(n)], "the training images")
        self.order = BatchStream(index, batch_size, seed)  # the global order; ranks slice it
        self.images, self.attributes = images, attributes.float()
        self.crop, self.flip = crop, flip
        self.jitter = torch.Generator().manual_seed(seed + 2)
        rank, world = shard
        if batch_size % world:
            raise GanforgeError(f"batch size {batch_size} does not split evenly among {world} ranks")
        share = batch_size // world
        self.share = slice(rank * share, (rank + 1) * share)

    @property
    def sizes(self) -> dict[str, int]:
        return {"images": int(self.images.shape[0])}

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the next global batch (every rank jitters the whole batch)."""
        _, idx = self.order.next()
        idx = idx.cpu()
        crops = random_jitter(self.images[idx.to(self.images.device)], self.crop, self.flip, self.jitter)
        return crops[self.share], self.attributes[idx][self.share]

    def state_dict(self) -> dict[str, Any]:
        return {"streams": {"images": self.order.state_dict()}, "jitter": self.jitter.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state["streams"]) != {"images"}:
            raise GanforgeError("the checkpoint's data streams do not match this data (attribute "
                                "labels vs image pairs); resume with the run's own --data")
        self.order.load_state_dict(state["streams"]["images"])
        self.jitter.set_state(state["jitter"])
