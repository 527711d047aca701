"""The files an inversion run leaves for the editing tools: ENCODER_RUN/encoder.json +
encoder.safetensors, HYPERSTYLE_RUN/hyperstyle.json + hyperstyle.safetensors. The training task
(`training/tasks/inversion.py`) writes them when a run finishes; `ganforge project --encoder
[--refine]`, the /edit page and the benchmarks read them here, the generator's identity checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ganforge.editing.encoder import Encoder, build_encoder
from ganforge.editing.hyperstyle import HyperNetwork, target_layers
from ganforge.editing.identity import check_same, fingerprint
from ganforge.errors import GanforgeError
from ganforge.generator import Generator

ENCODER_FORMAT = "ganforge-encoder-v1"
HYPER_FORMAT = "ganforge-hyperstyle-v1"
FILES = {ENCODER_FORMAT: "encoder", HYPER_FORMAT: "hyperstyle"}


def _meta(path: Path, stem: str, fmt: str) -> dict[str, Any] | None:
    meta = path / f"{stem}.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else None
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == fmt else None


def is_encoder_run(path: Path | str) -> bool:
    """Whether `path` holds a finished encoder run's export."""
    return _meta(Path(path), "encoder", ENCODER_FORMAT) is not None


def is_hyper_run(path: Path | str) -> bool:
    return _meta(Path(path), "hyperstyle", HYPER_FORMAT) is not None


def write_export(root: Path, network: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """ROOT/<stem>.safetensors (atomically) and ROOT/<stem>.json; `meta["format"]` picks the stem."""
    stem = FILES[meta["format"]]
    tmp = root / f".{stem}.safetensors.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}, str(tmp),
              metadata={"format": meta["format"]})
    tmp.replace(root / f"{stem}.safetensors")
    (root / f"{stem}.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return root / f"{stem}.safetensors"


def _read(path: Path, stem: str, fmt: str, g: Generator, what: str, recipe: str) -> dict[str, Any]:
    meta = _meta(path, stem, fmt)
    extra = " --encoder ENCODER_RUN" if recipe == "hyperstyle" else ""
    if meta is None or not (path / f"{stem}.safetensors").is_file():
        unfinished = (path / "config.yaml").is_file() and not any((path / f"{s}.json").is_file() for s in FILES.values())
        finish = f"; finish it with ganforge train --resume {path}" if unfinished else ""
        raise GanforgeError(f"'{path}' is not a finished {what} run ({stem}.json + {stem}.safetensors){finish}; "
                            f"train one with ganforge train --recipe {recipe} --generator GEN{extra}")
    check_same(meta["generator_sha256"], fingerprint(g.generator), str(path), what)
    return meta


def _weights(path: Path, stem: str, network: torch.nn.Module) -> None:
    try:
        network.load_state_dict(load_file(str(path / f"{stem}.safetensors")))
    except (RuntimeError, OSError) as exc:
        first = str(exc).splitlines()[0][:160]
        raise GanforgeError(f"{path / f'{stem}.safetensors'} does not fit {stem}.json ({first})") from None


def load_encoder(path: Path | str, g: Generator) -> Encoder:
    """A trained encoder of this generator (its identity checked), frozen, on g's device."""
    path = Path(path)
    meta = _read(path, "encoder", ENCODER_FORMAT, g, "encoder", "encoder")
    encoder = build_encoder(g, int(meta["channels"]), int(meta["settings"]["width"]))
    _weights(path, "encoder", encoder)
    return encoder.to(g.device).eval().requires_grad_(False)


def load_hypernetwork(path: Path | str, g: Generator) -> tuple[HyperNetwork, dict[str, Any]]:
    """A trained HyperStyle hypernetwork of this generator, frozen, and its run's settings."""
    path = Path(path)
    meta = _read(path, "hyperstyle", HYPER_FORMAT, g, "HyperStyle", "hyperstyle")
    hyper = HyperNetwork(target_layers(g), int(meta["channels"]), g.resolution, int(meta["width"]))
    _weights(path, "hyperstyle", hyper)
    return hyper.to(g.device).eval().requires_grad_(False), meta
