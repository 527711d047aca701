"""How many settings declare a valid range (issue 25): every field of every section and every
registered component's settings class, counted once per `section.key`. Writes JSON.

    python benchmarks/settings_coverage.py --out benchmarks/results/settings_coverage.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import ganforge  # noqa: F401  registers every component's settings
from ganforge.config import sections
from ganforge.config.fields import declared_range
from ganforge.config.registry import COMPONENTS

PLAIN = {"data": sections.DataConfig, "train": sections.TrainConfig, "eval": sections.EvalConfig,
         "augment": sections.AugmentConfig, "monitor": sections.MonitorConfig, "guard": sections.GuardConfig}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/settings_coverage.json"))
    args = parser.parse_args()
    classes = {name: [cls] for name, cls in PLAIN.items()}
    classes.update({name: list(found.values()) for name, found in COMPONENTS.items()})
    keys: dict[str, object] = {}
    for section, group in classes.items():
        for cls in group:
            for f in dataclasses.fields(cls):
                key = f"{section}.{f.name}"
                if keys.get(key) is None:
                    keys[key] = declared_range(f)
    numeric = [k for k, r in keys.items() if r is not None]
    bounded = [k for k, r in keys.items() if r is not None and "inf" not in str(r).split(",")[-1]]
    result = {"settings": len(keys), "with_declared_range": len(numeric), "with_finite_upper_end": len(bounded),
              "without_range": sorted(k for k, r in keys.items() if r is None),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "python benchmarks/settings_coverage.py"}
    print({k: v for k, v in result.items() if k != "without_range"})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
