"""Reading a TensorFlow checkpoint ("tensor bundle": PREFIX.index + PREFIX.data-*) without
TensorFlow, for converting published TF generators.

The .index file is a LevelDB-format table: data blocks of prefix-compressed key/value entries,
an index block pointing at them and a 48-byte footer. The first key ("") holds a
BundleHeaderProto; every other key is a tensor name whose value is a BundleEntryProto (dtype,
shape, shard, offset, size, masked CRC-32C) locating its bytes in a .data shard. The few
protobuf fields needed are decoded by hand. Every block and every tensor read is checked
against its CRC-32C.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from ganforge.errors import GanforgeError
from ganforge.generators.crc32c import crc32c, mask

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER = 5  # compression type byte + masked CRC-32C
DTYPES = {  # TensorFlow DataType enum -> torch dtype
    1: torch.float32, 2: torch.float64, 3: torch.int32, 4: torch.uint8, 5: torch.int16,
    6: torch.int8, 9: torch.int64, 10: torch.bool, 14: torch.bfloat16, 17: torch.uint16,
    19: torch.float16, 22: torch.uint32, 23: torch.uint64, 8: torch.complex64, 18: torch.complex128,
}
DTYPE_NAMES = {7: "string", 20: "resource", 21: "variant"}


class BundleFormatError(GanforgeError):
    """The files are not a readable tensor bundle (truncated, corrupted or another format)."""


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor's bytes are, and what they are."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked, as stored
    sliced: bool  # saved as partitions (TensorSliceProto): not supported


def varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """(value, next position) of a base-128 varint."""
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise BundleFormatError("a varint runs past its buffer")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def proto_fields(buf: bytes | memoryview) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message, in order (varint: int,
    length-delimited: bytes, fixed32/64: int)."""
    fields, pos = [], 0
    while pos < len(buf):
        tag, pos = varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            length, pos = varint(buf, pos)
            value, pos = bytes(buf[pos:pos + length]), pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        else:
            raise BundleFormatError(f"protobuf wire type {wire} is not expected in a checkpoint")
        fields.append((number, wire, value))
    if pos != len(buf):
        raise BundleFormatError("a protobuf message runs past its end")
    return fields


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def parse_entry(value: bytes) -> BundleEntry:
    """A BundleEntryProto: dtype=1, shape=2 (TensorShapeProto: dim=2 {size=1}), shard_id=3,
    offset=4, size=5, crc32c=6 (fixed32), slices=7."""
    dtype, shape, shard, offset, size, crc, sliced = 0, [], 0, 0, 0, 0, False
    for number, _, field in proto_fields(value):
        if number == 1:
            dtype = int(field)
        elif number == 2:
            for dim_number, _, dim in proto_fields(field):
                if dim_number == 2:
                    sizes = [_signed(int(v)) for n, _, v in proto_fields(dim) if n == 1]
                    shape.append(sizes[0] if sizes else 0)
                elif dim_number == 3 and dim:
                    raise BundleFormatError("a tensor of unknown rank")
        elif number == 3:
            shard = int(field)
        elif number == 4:
            offset = int(field)
        elif number == 5:
            size = int(field)
        elif number == 6:
            crc = int(field)
        elif number == 7:
            sliced = True
    return BundleEntry(dtype, tuple(shape), shard, offset, size, crc, sliced)


def block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of one table block (keys share prefixes with their predecessor)."""
    if len(block) < 4:
        raise BundleFormatError("a table block is too short")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise BundleFormatError("a table block's restart array runs past its start")
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = varint(block, pos)
        unshared, pos = varint(block, pos)
        length, pos = varint(block, pos)
        if shared > len(key) or pos + unshared + length > end:
            raise BundleFormatError("a table entry runs past its block")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + length]))
        pos += length
    return entries


def snappy_decompress(data: bytes) -> bytes:
    """Raw Snappy (LevelDB's optional block compression): literals and back-references."""
    size, pos = varint(data, 0)
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                length = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            length += 1
            out += data[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            length, offset = 4 + ((tag >> 2) & 7), ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            length, offset = (tag >> 2) + 1, int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            length, offset = (tag >> 2) + 1, int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise BundleFormatError("a Snappy back-reference points before the start")
        for _ in range(length):  # byte by byte: a copy may overlap what it writes
            out.append(out[-offset])
    if len(out) != size:
        raise BundleFormatError("a Snappy block does not decompress to its stated size")
    return bytes(out)


class TensorBundle:
    """`TensorBundle(prefix)`: names, entries and tensors of PREFIX.index / PREFIX.data-*."""

    def __init__(self, prefix: Path | str) -> None:
        self.prefix = Path(prefix)
        index = Path(f"{self.prefix}.index")
        try:
            self._index = index.read_bytes()
        except OSError as exc:
            raise GanforgeError(f"cannot read '{index}' ({exc.strerror or exc})") from None
        self.index_path = index
        self.entries: dict[str, BundleEntry] = {}
        self.num_shards = 1
        for key, value in self._table():
            if key == b"":
                self._header(value)
            else:
                self.entries[key.decode("utf-8", errors="replace")] = parse_entry(value)

    def _block(self, offset: int, size: int) -> bytes:
        data = self._index
        if offset + size + BLOCK_TRAILER > len(data):
            raise BundleFormatError(f"'{self.index_path}': a block runs past the end (truncated?)")
        block, kind = data[offset:offset + size], data[offset + size]
        stored = struct.unpack_from("<I", data, offset + size + 1)[0]
        if mask(crc32c(data[offset:offset + size + 1])) != stored:
            raise BundleFormatError(f"'{self.index_path}': a block fails its CRC-32C (corrupted)")
        if kind == 1:
            return snappy_decompress(block)
        if kind != 0:
            raise BundleFormatError(f"'{self.index_path}': unknown block compression {kind}")
        return block

    def _table(self) -> list[tuple[bytes, bytes]]:
        data = self._index
        if len(data) < FOOTER_SIZE or struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
            raise BundleFormatError(f"'{self.index_path}' is not a TensorFlow checkpoint index "
                                    "(no table footer)")
        footer = data[len(data) - FOOTER_SIZE:]
        _, pos = varint(footer, 0)  # metaindex offset
        _, pos = varint(footer, pos)  # metaindex size (TensorFlow writes no meta blocks)
        index_offset, pos = varint(footer, pos)
        index_size, _ = varint(footer, pos)
        pairs = []
        for _, handle in block_entries(self._block(index_offset, index_size)):
            offset, pos = varint(handle, 0)
            size, _ = varint(handle, pos)
            pairs += block_entries(self._block(offset, size))
        return pairs

    def _header(self, value: bytes) -> None:
        """BundleHeaderProto: num_shards=1, endianness=2 (0: little)."""
        for number, _, field in proto_fields(value):
            if number == 1:
                self.num_shards = int(field)
            elif number == 2 and field != 0:
                raise BundleFormatError(f"'{self.index_path}' was written big-endian; not supported")

    def names(self) -> list[str]:
        return list(self.entries)

    def shard_path(self, shard: int) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}")

    def read(self, name: str, verify: bool = True) -> torch.Tensor:
        """One tensor (CPU, its own dtype and shape), its bytes checked against their CRC-32C."""
        if name not in self.entries:
            raise GanforgeError(f"'{self.index_path}' has no tensor '{name}'")
        entry = self.entries[name]
        if entry.sliced:
            raise GanforgeError(f"'{name}' is saved as slices (a partitioned variable); not supported")
        if entry.dtype not in DTYPES:
            kind = DTYPE_NAMES.get(entry.dtype, f"dtype {entry.dtype}")
            raise GanforgeError(f"'{name}' holds {kind} values, not numbers; it cannot be read as weights")
        path = self.shard_path(entry.shard_id)
        try:
            with path.open("rb") as fh:
                fh.seek(entry.offset)
                raw = fh.read(entry.size)
        except OSError as exc:
            raise GanforgeError(f"cannot read '{path}' ({exc.strerror or exc})") from None
        if len(raw) != entry.size:
            raise BundleFormatError(f"'{path}' ends inside tensor '{name}' (truncated)")
        if verify and mask(crc32c(raw)) != entry.crc32c:
            raise BundleFormatError(f"'{path}': tensor '{name}' fails its CRC-32C (corrupted)")
        dtype = DTYPES[entry.dtype]
        count = 1
        for dim in entry.shape:
            count *= dim
        if count * torch.empty((), dtype=dtype).element_size() != entry.size:
            raise BundleFormatError(f"'{name}': {entry.size} bytes do not hold shape {entry.shape}")
        if count == 0:
            return torch.empty(entry.shape, dtype=dtype)
        return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(entry.shape)
