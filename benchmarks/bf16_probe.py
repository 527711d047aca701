"""Does this CPU compute bf16 natively? One 3x3 convolution (forward + backward) in fp32 and
under bf16 autocast, NCHW and channels_last, side by side.

bf16 autocast is a speed lever only where the hardware has bf16 arithmetic (AVX512-BF16, AMX,
GPUs); elsewhere every op converts and falls back to slow kernels. Run this before choosing
`train.precision` on a CPU.

    python benchmarks/bf16_probe.py --out benchmarks/results/bf16_probe.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from _report import provenance, write_result


def time_conv(bf16: bool, channels_last: bool, repeats: int, batch: int, width: int) -> float:
    """Best-of-`repeats` seconds for conv forward + backward."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, width, 16, 16, generator=gen)
    conv = torch.nn.Conv2d(width, width, 3, padding=1)
    if channels_last:
        x, conv = x.contiguous(memory_format=torch.channels_last), conv.to(
            memory_format=torch.channels_last)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = conv(x)
        out.float().sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    seconds = {f"{'bf16' if bf16 else 'fp32'}{' channels_last' if cl else ''}":
               time_conv(bf16, cl, args.repeats, args.batch, args.width)
               for bf16 in (False, True) for cl in (False, True)}
    write_result({
        "benchmark": "bf16_probe", "op": f"conv3x3 {args.width}->{args.width}, 16x16, "
        f"batch {args.batch}, forward + backward", "seconds": seconds,
        "bf16_speedup_vs_fp32": seconds["fp32"] / seconds["bf16"], **provenance(),
        "command": f"python benchmarks/bf16_probe.py --repeats {args.repeats} --batch {args.batch} "
                   f"--width {args.width}",
    }, args.out)


if __name__ == "__main__":
    main()
