"""The TensorFlow checkpoint reader: TensorFlow's own file reads back as TensorFlow read it,
test-written bundles read back exactly, and corruption is refused by name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.generators.crc32c import crc32c, mask
from ganforge.generators.tf_bundle import TensorBundle, snappy_decompress
from tf_bundle_writer import write_bundle

FIXTURE = Path(__file__).parent / "fixtures" / "tf_bundle"
NUMPY_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
                "int32": torch.int32, "int64": torch.int64, "uint8": torch.uint8, "bool": torch.bool}


def test_crc32c_known_answers() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    data = os.urandom(8 * 4096 * 2 + 77)  # the chunked path equals the bytewise one
    assert crc32c(data) == _bytewise(data)
    assert mask(0) == 0xA282EAD8


def _bytewise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_reads_what_tensorflow_wrote_as_tensorflow_reads_it() -> None:
    expected = json.loads((FIXTURE / "expected.json").read_text())["tensors"]
    bundle = TensorBundle(FIXTURE / "ckpt")
    assert sorted(bundle.names()) == sorted(expected)
    for name, want in expected.items():
        got = bundle.read(name)
        assert got.dtype == NUMPY_DTYPES[want["dtype"]], name
        assert list(got.shape) == want["shape"], name
        assert got.reshape(-1).tolist() == want["values"], name


def test_written_bundle_reads_back_exactly(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    tensors = {
        "Generator/GBlock/conv0/w/ema_b999900": torch.randn(3, 3, 4, 2, generator=gen),
        "Generator/GBlock/conv0/u0": torch.randn(1, 2, generator=gen),
        "scalar": torch.tensor(1.5),
        "f64": torch.randn(5, generator=gen, dtype=torch.float64),
        "i64": torch.tensor([-(2**40), 7]),
        "mask": torch.tensor([True, False, True]),
        "half": torch.randn(4, generator=gen).half(),
        "empty": torch.zeros(0, 3),
        **{f"Generator/GBlock_{i}/HyperBN/gamma/w": torch.randn(2, 3, generator=gen) for i in range(12)},
    }
    write_bundle(tmp_path / "variables", tensors)
    bundle = TensorBundle(tmp_path / "variables")
    assert sorted(bundle.names()) == sorted(tensors)
    for name, value in tensors.items():
        got = bundle.read(name)
        assert got.dtype == value.dtype and got.shape == value.shape and torch.equal(got, value), name
    entry = bundle.entries["Generator/GBlock/conv0/u0"]
    assert (entry.dtype, entry.shape, entry.shard_id) == (1, (1, 2), 0)


def test_corruption_and_other_files_are_refused(tmp_path: Path) -> None:
    write_bundle(tmp_path / "v", {"a": torch.arange(6.0), "b": torch.ones(3)})
    data = tmp_path / "v.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[2] ^= 0xFF  # inside tensor "a"
    data.write_bytes(bytes(raw))
    bundle = TensorBundle(tmp_path / "v")
    assert torch.equal(bundle.read("b"), torch.ones(3))
    with pytest.raises(GanforgeError, match="tensor 'a' fails its CRC-32C"):
        bundle.read("a")
    data.write_bytes(bytes(raw[:10]))
    with pytest.raises(GanforgeError, match="truncated"):
        bundle.read("b")
    index = tmp_path / "v.index"
    index.write_bytes(index.read_bytes()[:-60] + index.read_bytes()[-48:])  # a block cut short
    with pytest.raises(GanforgeError):
        TensorBundle(tmp_path / "v")
    (tmp_path / "x.index").write_bytes(b"not a table" * 10)
    with pytest.raises(GanforgeError, match="not a TensorFlow checkpoint index"):
        TensorBundle(tmp_path / "x")
    with pytest.raises(GanforgeError, match="cannot read"):
        TensorBundle(tmp_path / "missing")


def test_snappy_blocks() -> None:
    # length 10; literal "ab"; copy 4 bytes from 2 back (overlapping); literal "cdxy"
    data = bytes([10, (2 - 1) << 2]) + b"ab" + bytes([((4 - 4) << 2) | 1, 2]) + bytes([(4 - 1) << 2]) + b"cdxy"
    assert snappy_decompress(data) == b"ababab" + b"cdxy"
    with pytest.raises(GanforgeError):
        snappy_decompress(bytes([3, 1, 9]))  # a copy before anything was written
