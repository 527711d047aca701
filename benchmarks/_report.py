"""What every benchmark records about where it ran, and how it writes its JSON."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch


def cpu_description() -> str:
    """CPU model and whether it computes bf16 natively: bf16 autocast is 2x faster than fp32 on
    CPUs with AVX512-BF16/AMX and many times slower on AVX2-only ones, so results need this."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    native = sorted(flags & {"avx512_bf16", "amx_bf16"})
    return f"{model}; native bf16: {', '.join(native) if native else 'no'}"


def provenance() -> dict[str, str]:
    """Machine, CPU, torch version and UTC date, for BENCHMARKS.md."""
    return {
        "machine": f"{platform.node()} {platform.machine()} {torch.get_num_threads()} threads",
        "cpu_model": cpu_description(),
        "torch": torch.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_result(result: dict[str, Any], out: Path | None, echo: bool = True) -> None:
    """Print the result (unless `echo` is false) and write it to `out` when given."""
    text = json.dumps(result, indent=1)
    if echo:
        print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
