"""CRC-32C (Castagnoli), the checksum of TensorFlow's checkpoint files, without a C extension.

A byte-at-a-time Python loop would take minutes over a BigGAN checkpoint. CRCs are linear over
GF(2), so the data is cut into equal chunks whose CRCs advance together (one vectorised table
step per byte position), then joined with the "append n zero bytes" operator, as zlib's
crc32_combine does.
"""

from __future__ import annotations

import numpy as np

POLY = 0x82F63B78  # reflected Castagnoli polynomial
MASK_DELTA = 0xA282EAD8
CHUNKS = 4096


def _table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table[i] = c
    return table


TABLE = _table()


def _raw(register: int, data: bytes) -> int:
    """The CRC register after `data`, from `register`, no final xor (small inputs)."""
    for byte in data:
        register = int(TABLE[(register ^ byte) & 0xFF]) ^ (register >> 8)
    return register


def _raw_chunks(data: np.ndarray) -> np.ndarray:
    """Raw CRCs (register 0) of the rows of a (chunks, length) uint8 array, all at once."""
    crc = np.zeros(data.shape[0], dtype=np.uint32)
    for j in range(data.shape[1]):
        crc = TABLE[(crc ^ data[:, j]) & 0xFF] ^ (crc >> 8)
    return crc


def _times(matrix: list[int], vector: int) -> int:
    out, i = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[i]
        vector >>= 1
        i += 1
    return out


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, column) for column in matrix]


def zeros_operator(n_bytes: int) -> list[int]:
    """The 32x32 GF(2) matrix (as columns) that appends `n_bytes` zero bytes to a register."""
    result = [1 << i for i in range(32)]  # identity
    power = [POLY] + [1 << (i - 1) for i in range(1, 32)]  # one zero bit
    for _ in range(3):  # one zero byte = 8 zero bits
        power = _square(power)
    n = n_bytes
    while n:
        if n & 1:
            result = [_times(power, column) for column in result]
        n >>= 1
        if n:
            power = _square(power)
    return result


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """The standard CRC-32C of `data` (init and final xor 0xFFFFFFFF)."""
    view = np.frombuffer(data, dtype=np.uint8)
    n = view.size
    if n < 8 * CHUNKS:
        return _raw(0xFFFFFFFF, bytes(view)) ^ 0xFFFFFFFF
    length = n // CHUNKS
    body = _raw_chunks(view[: length * CHUNKS].reshape(CHUNKS, length))
    shift = zeros_operator(length)
    register = 0
    for chunk in body.tolist():
        register = _times(shift, register) ^ chunk
    register = _raw(register, bytes(view[length * CHUNKS:]))
    initial = _times(zeros_operator(n), 0xFFFFFFFF)  # the init value carried across all n bytes
    return (register ^ initial) ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    """LevelDB's masked CRC, which TensorFlow stores (a CRC of data that holds CRCs stays sane)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF
