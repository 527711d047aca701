"""What every benchmark records about where it ran, and how it writes its JSON."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch


def provenance() -> dict[str, str]:
    """Machine, torch version and UTC date, for BENCHMARKS.md."""
    return {
        "machine": f"{platform.node()} {platform.machine()} {torch.get_num_threads()} threads",
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
