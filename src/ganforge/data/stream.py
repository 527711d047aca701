"""`stream:DIR`: an image folder decoded batch by batch on background threads, never held whole.

The same files, labels and decoding as `folder:DIR` (so the same batches), for folders too large
for memory that a user does not want to `ganforge prepare` first. Each epoch decodes every
image again, which is why the hint points at `prepare` when decoding is the bottleneck.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganforge.data.folder import list_classes, load_image
from ganforge.data.streamed import StreamedDataset


class FolderReader:
    """Decodes the files at the asked indices (Pillow releases the GIL while decoding)."""

    def __init__(self, files: list[Path], resolution: int, channels: int, folder: Path) -> None:
        self.files, self.resolution, self.channels = files, resolution, channels
        self.shape = (channels, resolution, resolution)
        self.slow_hint = (f"decoding is the bottleneck: prepare the folder once (ganforge prepare "
                          f"folder:{folder} OUT --resolution {resolution}) and train with --data "
                          "prepared:OUT, or raise data.workers")

    def __len__(self) -> int:
        return len(self.files)

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        for i, index in enumerate(indices.tolist()):
            out[i] = load_image(self.files[index], self.resolution, self.channels)


def open_folder_stream(path: Path, resolution: int, channels: int,
                       workers: int = 2) -> StreamedDataset:
    folder = Path(path)
    classes = list_classes(folder)
    files = [f for _, class_files in classes for f in class_files]
    labels = torch.cat(
        [torch.full((len(fs),), i, dtype=torch.long) for i, (_, fs) in enumerate(classes)]
    )
    reader = FolderReader(files, resolution, channels, folder)
    return StreamedDataset(reader, labels, [name for name, _ in classes], f"stream:{folder}",
                           workers=workers)
