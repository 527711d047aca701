"""Latent codes and directions on disk (safetensors, no pickle), each with the identity of the
generator that made it: a file from another generator is refused in one line.

A latents file written by `ganforge sample --save-latents` (z + labels) is read as z codes too.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ganforge.editing.codes import LatentCode, class_vectors
from ganforge.editing.identity import check_same, fingerprint
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.latents import LATENTS_FORMAT

CODE_FORMAT = "ganforge-latent-code-v1"
DIRECTIONS_FORMAT = "ganforge-directions-v1"


def _write(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def _read(path: Path, what: str, hint: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise GanforgeError(f"{what} file '{path}' does not exist; {hint}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise GanforgeError(f"'{path}' is not a safetensors {what} file ({exc})") from None


def save_code(path: Path | str, code: LatentCode, g: Generator, info: dict | None = None) -> Path:
    tensors = {"latent": code.latent}
    if code.classes is not None:
        tensors["classes"] = code.classes
    tensors.update({f"noise.{name}": value for name, value in code.noise.items()})
    tensors.update({f"offset.{name}": value for name, value in code.offsets.items()})
    meta = {"format": CODE_FORMAT, "space": code.space, "generator_sha256": fingerprint(g.generator),
            "info": json.dumps(info or {})}
    return _write(Path(path), tensors, meta)


def load_code(path: Path | str, g: Generator) -> tuple[LatentCode, dict]:
    """(code, info) of a latent file made with this generator (or a `--save-latents` file)."""
    path = Path(path)
    tensors, meta = _read(path, "latent", "write one with `ganforge project` or `ganforge sample --save-latents`")
    if meta.get("format") == LATENTS_FORMAT:
        z, labels = tensors["z"], tensors["labels"]
        if z.ndim != 2 or z.shape[1] != g.dim_z:
            raise GanforgeError(f"'{path}' holds {tuple(z.shape)} latents; this generator takes {g.dim_z}-d z")
        return LatentCode("z", z, class_vectors(g, labels)), {"source": meta.get("source", "")}
    if meta.get("format") != CODE_FORMAT:
        raise GanforgeError(f"'{path}' is not a ganforge latent file (format {meta.get('format')!r})")
    check_same(meta.get("generator_sha256", ""), fingerprint(g.generator), str(path), "latent")
    noise = {k[len("noise."):]: v for k, v in tensors.items() if k.startswith("noise.")}
    offsets = {k[len("offset."):]: v for k, v in tensors.items() if k.startswith("offset.")}
    code = LatentCode(meta.get("space", "z"), tensors["latent"], tensors.get("classes"), noise, offsets)
    return code, json.loads(meta.get("info", "{}"))


def save_directions(path: Path | str, directions: torch.Tensor, names: list[str], space: str,
                    g: Generator, info: dict) -> Path:
    """directions (K, D) as `path` (safetensors) + `path`.json (names, method, scores)."""
    path = Path(path)
    sidecar = {"format": DIRECTIONS_FORMAT, "space": space, "names": names, **info}
    meta = {"format": DIRECTIONS_FORMAT, "space": space, "names": json.dumps(names),
            "generator_sha256": fingerprint(g.generator)}
    _write(path, {"directions": directions.float()}, meta)
    json_path = path.with_suffix(".json")
    json_path.write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
    return path


def load_directions(path: Path | str, g: Generator) -> tuple[torch.Tensor, list[str], str]:
    """(directions (K, D), names, space) of a directions file made with this generator."""
    path = Path(path)
    tensors, meta = _read(path, "directions", "write one with `ganforge directions GEN --method pca`")
    if meta.get("format") != DIRECTIONS_FORMAT or "directions" not in tensors:
        raise GanforgeError(f"'{path}' is not a ganforge directions file")
    check_same(meta.get("generator_sha256", ""), fingerprint(g.generator), str(path), "directions file")
    return tensors["directions"], json.loads(meta.get("names", "[]")), meta.get("space", "z")
