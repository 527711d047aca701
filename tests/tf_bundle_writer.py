"""A test-side writer of TensorFlow's checkpoint format (tensor bundle), from its documentation:
tensorflow/core/util/tensor_bundle/tensor_bundle.{h,proto} and the LevelDB table format.

Several small data blocks with shared key prefixes and restart points, an index block, an
empty meta-index block and the 48-byte footer; tensor bytes concatenated into one data shard.
"""

from __future__ import annotations

import struct
from pathlib import Path

import torch

from ganforge.generators.crc32c import crc32c, mask

DTYPES = {torch.float32: 1, torch.float64: 2, torch.int32: 3, torch.uint8: 4, torch.int64: 9,
          torch.bool: 10, torch.float16: 19}
MAGIC = 0xDB4775248B80FB57


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes, fixed32: bool = False) -> bytes:
    if fixed32:
        return varint(number << 3 | 5) + struct.pack("<I", value)
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def entry_proto(dtype: int, shape: tuple[int, ...], offset: int, size: int, crc: int) -> bytes:
    dims = b"".join(field(2, field(1, d)) for d in shape)
    out = field(1, dtype) + field(2, dims)
    if offset:
        out += field(4, offset)
    if size:
        out += field(5, size)
    return out + field(6, crc, fixed32=True)


def block(entries: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        previous = key
    for r in restarts or [0]:
        out += struct.pack("<I", r)
    return bytes(out + struct.pack("<I", len(restarts or [0])))


def write_bundle(prefix: Path, tensors: dict[str, torch.Tensor], per_block: int = 7,
                 restart_interval: int = 3) -> None:
    """PREFIX.index + PREFIX.data-00000-of-00001 holding `tensors` (sorted by name, as TF does)."""
    data, entries = bytearray(), []
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        entries.append((name.encode(), entry_proto(DTYPES[t.dtype], tuple(t.shape), len(data), len(raw),
                                                   mask(crc32c(raw)))))
        data += raw
    header = field(1, 1) + field(3, field(1, 1))  # num_shards 1, little-endian, version {producer 1}
    entries.insert(0, (b"", header))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    index, table = [], bytearray()

    def put(contents: bytes) -> bytes:
        handle = varint(len(table)) + varint(len(contents))
        trailer = b"\x00" + struct.pack("<I", mask(crc32c(contents + b"\x00")))
        table.extend(contents + trailer)
        return handle

    for i in range(0, len(entries), per_block):
        chunk = entries[i:i + per_block]
        index.append((chunk[-1][0], put(block(chunk, restart_interval))))
    meta = put(block([], restart_interval))
    top = put(block(index, 1))
    footer = (meta + top).ljust(40, b"\x00") + struct.pack("<Q", MAGIC)
    Path(f"{prefix}.index").write_bytes(bytes(table + footer))
