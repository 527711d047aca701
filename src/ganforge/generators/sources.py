"""What kind of source a path or name is, without loading it (eval tells generators from
image sets this way)."""

from __future__ import annotations

from pathlib import Path

from ganforge.generators.biggan_pytorch import is_biggan_pytorch_folder
from ganforge.generators.convert import is_biggan_deep_folder
from ganforge.generators.hub import looks_like_hub_id
from ganforge.generators.layout import is_exported_generator, is_generator_folder
from ganforge.generators.runs import is_run_dir
from ganforge.generators.stylegan2_ada import is_network_pickle
from ganforge.generators.tfhub_biggan import is_tfhub_module


def source_kind(source: Path | str) -> str | None:
    """"run", "export", "biggan-deep", "biggan-pytorch", "tfhub-biggan", "stylegan2-ada", "hub",
    or None (not a generator: e.g. images)."""
    path = Path(source)
    if not path.exists():
        return "hub" if looks_like_hub_id(str(source)) else None
    if is_generator_folder(path) or (path.is_file() and is_exported_generator(path)):
        return "export"
    if path.is_dir() and is_run_dir(path):
        return "run"
    if path.is_dir() and is_biggan_deep_folder(path):
        return "biggan-deep"
    if is_biggan_pytorch_folder(path):
        return "biggan-pytorch"
    if is_tfhub_module(path):
        return "tfhub-biggan"
    if is_network_pickle(path):
        return "stylegan2-ada"
    return None
