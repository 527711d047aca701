"""What a translation run trains and evaluates on, whatever its source."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganforge.data.streamed import StreamedDataset

Images = torch.Tensor | StreamedDataset  # in memory, or on disk (`--data prepared:DIR`)


@dataclass
class TranslationData:
    """Both domains' training and test images (uint8 (N, C, S, S)) and what is known of them.

    Training images are tensors, or datasets read from disk as batches are drawn (prepared
    data); test images are always in memory."""

    train_a: Images
    train_b: Images
    paired: bool  # train_b[i] is the partner of train_a[i]
    test_a: torch.Tensor | None
    test_b: torch.Tensor | None
    test_paired: bool  # test_b[i] is the true translation of test_a[i]
    source: str
    test_labels: torch.Tensor | None = None  # demo tasks: the digit of each test pair
    readable: tuple[str, ...] = ()  # demo tasks: domains the shipped digits classifier reads
    # StarGAN's data: attribute names and 0/1 labels (N, K) of train_a / test_a
    attributes: tuple[str, ...] = ()
    train_attrs: torch.Tensor | None = None
    test_attrs: torch.Tensor | None = None
    # several datasets (`--data A+B`): attributes each labels, in label order; the labels above
    # then end with the one-hot mask of the image's dataset (`translation.attribute_sets`)
    attribute_sets: tuple[int, ...] = ()
    # prepared paired data: each pair as one image of A's channels then B's (one read a pair)
    train_pairs: StreamedDataset | None = None
    # InstaGAN's data: each image is followed by this many instance-mask channels (0/255), and
    # the demo's digit class of each domain's instances (A, B)
    instances: int = 0
    instance_classes: tuple[int, int] | None = None
    # label-map data (SPADE's): the test label maps as class ids (N, 1, S, S), and the classes
    test_maps: torch.Tensor | None = None
    label_classes: int = 0
    label_instances: bool = False  # A is (class ids, instance number high byte, low byte)

    @property
    def has_test(self) -> bool:
        return self.test_a is not None and self.test_b is not None


def first_images(images: Images, n: int) -> torch.Tensor:
    """The first n training images as a tensor, wherever they are kept."""
    if isinstance(images, StreamedDataset):
        return images.read(torch.arange(min(n, len(images))))
    return images[:n]
