"""Converting published generators into ganforge's export layout.

`ganforge convert biggan-deep DIR --out OUT_DIR` reads a public `biggan-deep-{128,256,512}`
checkpoint folder (pytorch_model.bin + config.json, strictly checked) and writes the same
weights as a ganforge folder: safetensors, a config.json and a model card, class names included.

ImageNet class names are not shipped with ganforge. They come from, in order: a file given with
`--class-names` (one name per line in class order, e.g. "tench, Tinca tinca"; or the common
`imagenet_class_index.json`), a file beside the checkpoint, GANFORGE_IMAGENET_CLASSES, or an
installed `timm` (its ImageNet synset and lemma lists are read as data; timm is never imported).
Without any of these, classes are known by index only ("207"), and the model card says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.export import parameter_count, save_generator_folder
from ganforge.models.biggan_deep_checkpoint import load_biggan_deep

CLASS_FILES = ("class_names.txt", "imagenet_classes.txt", "imagenet_class_index.json")
CLASSES_ENV = "GANFORGE_IMAGENET_CLASSES"


def read_class_names(path: Path | str, expected: int | None = None) -> list[str]:
    """Names in class order from a text file (one per line) or JSON (a list, or the
    `{"0": ["n01440764", "tench"], ...}` index)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GanforgeError(f"cannot read class names from '{path}' ({exc})") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise GanforgeError(f"'{path}' is not valid JSON ({exc})") from None
        if isinstance(data, dict):
            try:
                items = [data[str(i)] for i in range(len(data))]
            except KeyError:
                raise GanforgeError(f"'{path}': keys must be the class indices 0..N-1") from None
            names = [item[-1] if isinstance(item, list) else item for item in items]
        else:
            names = data
        names = [str(n).replace("_", " ") for n in names]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if expected is not None and len(names) != expected:
        raise GanforgeError(f"'{path}' has {len(names)} class names; this generator has "
                            f"{expected} classes (one name per class, in class order)")
    return names


def find_class_names(directory: Path, n_classes: int, given: Path | str | None) -> tuple[list[str], str]:
    """(names, where they came from): the given file, a file beside the weights, the env var."""
    if given:  # a named file must be readable; no silent fallback
        return read_class_names(given, n_classes), str(given)
    candidates = [directory / name for name in CLASS_FILES]
    if os.environ.get(CLASSES_ENV):
        candidates.append(Path(os.environ[CLASSES_ENV]))
    for path in candidates:
        if path.is_file():
            return read_class_names(path, n_classes), str(path)
    if n_classes == 1000:
        names = timm_imagenet_names()
        if names is not None:
            return names, "ImageNet synsets of the installed timm package"
    return [str(i) for i in range(n_classes)], "none: classes are known by index only"


def is_biggan_deep_folder(path: Path) -> bool:
    """pytorch_model.bin + config.json, or model.safetensors + a config.json of another format."""
    return (path / "pytorch_model.bin").is_file() or (
        (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    )


def biggan_deep_from_checkpoint(
    directory: Path | str, class_names: Path | str | None = None
) -> Generator:
    """A public BigGAN-deep checkpoint folder, strictly loaded, ready to sample."""
    directory = Path(directory)
    model, cfg = load_biggan_deep(directory)
    names, names_source = find_class_names(directory, cfg.num_classes, class_names)
    card: dict[str, Any] = {
        "recipe": f"biggan-deep-{cfg.output_dim}",
        "description": "BigGAN-deep (Brock et al. 2019), the public pretrained ImageNet generator, "
                       "converted by ganforge.",
        "source": str(directory.resolve()),
        "class_names_source": names_source,
        "weights": "published generator (EMA)",
    }
    return Generator(model, names, "biggan-deep", model_config=cfg.to_dict(), card=card)


def convert_biggan_deep(
    directory: Path | str, out: Path | str, class_names: Path | str | None = None
) -> dict[str, Any]:
    g = biggan_deep_from_checkpoint(directory, class_names)
    folder = save_generator_folder(g, Path(out))
    return {"path": str(folder), "params": parameter_count(g), "resolution": g.resolution,
            "class_names": g.card["class_names_source"]}


def timm_imagenet_names() -> list[str] | None:
    """The 1000 ImageNet-1k class names (WordNet lemmas, in class order) from an installed timm.

    Only its data files are read: `find_spec` locates the package without importing it (timm
    imports torchvision, which this environment may not have).
    """
    try:
        spec = importlib.util.find_spec("timm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    info = Path(list(spec.submodule_search_locations)[0]) / "data" / "_info"
    try:
        synsets = (info / "imagenet_synsets.txt").read_text(encoding="utf-8").split()
        lemmas = dict(line.split("\t", 1) for line in
                      (info / "imagenet_synset_to_lemma.txt").read_text(encoding="utf-8").splitlines()
                      if "\t" in line)
    except OSError:
        return None
    if len(synsets) != 1000 or any(s not in lemmas for s in synsets):
        return None
    return [lemmas[s].strip() for s in synsets]
