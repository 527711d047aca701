"""Train a shipped domain classifier: `python -m ganforge.metrics.train_classifier digits|mnist`.

Deterministic for a given seed, thread count and torch build: a seeded stratified held-out split,
seeded shuffling and augmentation (random translations of up to +-2 px, so the judge tolerates
the small misplacements generated digits have). Writes `<name>.safetensors` and `<name>.json`
(held-out accuracy, exact split, sha256, command) into `ganforge/metrics/weights/`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.checksums import file_sha256
from ganforge.data import ImageDataset, load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.classifiers import (
    NATIVE_SIZE,
    RESIZE,
    WEIGHTS_DIR,
    ClassifierExtractor,
    DomainClassifier,
    load_classifier,
    to_classifier_input,
)

DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "mnist"
CHANNELS = (16, 32, 64)
FEATURE_DIM = 128
MAX_SHIFT = 2
BATCH_SIZE = 64
EVAL_BATCH = 500


@dataclass(frozen=True)
class Setting:
    """What differs between the domains: data, held-out size and training length."""

    spec: str
    test_size: float | int
    epochs: int
    description: str


def settings(mnist_dir: Path) -> dict[str, Setting]:
    return {
        "digits": Setting(
            "digits", 0.2, 40,
            "scikit-learn load_digits (1,797 8x8 images, 17 grey levels) as ganforge loads them: "
            "scaled to 0..255 and upsampled bilinearly to 32x32 uint8",
        ),
        "mnist": Setting(
            f"mnist:{mnist_dir}", 2000, 20,
            "MNIST idx files in the directory (here the t10k test split, 10,000 28x28 images) as "
            "ganforge loads them: upsampled bilinearly to 32x32 uint8",
        ),
    }


def held_out_split(labels: np.ndarray, test_size: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): sklearn's stratified train_test_split over 0..N-1."""
    from sklearn.model_selection import train_test_split

    train, held = train_test_split(
        np.arange(len(labels)), test_size=test_size, random_state=seed, stratify=labels
    )
    return train, held


def indices_sha256(indices: np.ndarray) -> str:
    """Fingerprint of a split (int64 little-endian, in split order) so a re-creation can be checked."""
    return hashlib.sha256(np.asarray(indices, dtype="<i8").tobytes()).hexdigest()


def random_shift(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Translate each uint8 image by up to MAX_SHIFT px in x and y, filling with black."""
    n, _, h, w = images.shape
    padded = F.pad(images, (MAX_SHIFT,) * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (n, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])


@torch.no_grad()
def predict(extractor: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    """Predicted classes of uint8 images through the extractor's full input pipeline."""
    out = [extractor(chunk)[1].argmax(1) for chunk in images.split(EVAL_BATCH)]
    return torch.cat(out).numpy()


def train_model(
    data: ImageDataset, train_idx: np.ndarray, epochs: int, seed: int, log: bool = True
) -> tuple[DomainClassifier, dict[str, float]]:
    """AdamW + one-cycle schedule on augmented training images; returns the model in eval mode."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = DomainClassifier(data.n_classes, CHANNELS, FEATURE_DIM)
    images, labels = data.images[train_idx], data.labels[train_idx]
    steps_per_epoch = -(-len(images) // BATCH_SIZE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=epochs * steps_per_epoch, pct_start=0.15
    )
    stats: dict[str, float] = {}
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total_loss, correct = 0.0, 0
        for batch in order.split(BATCH_SIZE):
            x = to_classifier_input(random_shift(images[batch], generator))
            y = labels[batch]
            _, logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(1) == y).sum())
        stats = {"train_loss": total_loss / len(images), "train_accuracy_augmented": correct / len(images)}
        if log:
            print(
                f"epoch {epoch + 1}/{epochs}: loss {stats['train_loss']:.4f} "
                f"acc {stats['train_accuracy_augmented']:.4f} ({time.time() - start:.0f}s)",
                flush=True,
            )
    return model.eval(), stats


def data_files(spec: str) -> dict[str, str]:
    """sha256 of the MNIST idx files used (provenance); empty for the built-in digits."""
    if not spec.startswith("mnist:"):
        return {}
    directory = Path(spec.partition(":")[2])
    return {p.name: file_sha256(p) for p in sorted(directory.iterdir()) if "idx" in p.name}


def run(
    name: str, mnist_dir: Path, epochs: int | None, seed: int, out_dir: Path, threads: int,
    command: str,
) -> dict[str, Any]:
    """Train, save the weights, measure held-out accuracy from the saved file, write the json."""
    from safetensors.torch import load_file, save_file

    table = settings(mnist_dir)
    if name not in table:
        raise GanforgeError(f"unknown classifier '{name}'; available: {', '.join(table)}")
    setting = table[name]
    epochs = epochs or setting.epochs
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    data = load_dataset(setting.spec, NATIVE_SIZE, 1)
    labels = data.labels.numpy()
    train_idx, held_idx = held_out_split(labels, setting.test_size, seed)
    started = time.time()
    model, stats = train_model(data, train_idx, epochs, seed)
    seconds = time.time() - started

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.safetensors"
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # one metadata key: safetensors writes a map's keys in hash order, so two would make the bytes
    # (and the sha256) differ between identical runs
    save_file(state, str(weights), metadata={"ganforge_domain_classifier": name})
    weights.chmod(0o644)  # safetensors creates it owner-only; a shipped file must be world-readable
    sha = file_sha256(weights)
    shipped = DomainClassifier(data.n_classes, CHANNELS, FEATURE_DIM)
    shipped.load_state_dict(load_file(str(weights)))
    extractor = ClassifierExtractor(name, shipped, sha, data.class_names, 0.0)
    predicted = predict(extractor, data.images[held_idx])
    held_labels = labels[held_idx]
    correct = int((predicted == held_labels).sum())
    per_class = {
        data.class_names[c]: float((predicted[held_labels == c] == c).mean())
        for c in range(data.n_classes)
    }
    meta: dict[str, Any] = {
        "name": name,
        "held_out_accuracy": correct / len(held_idx),
        "held_out_correct": correct,
        "held_out_per_class_accuracy": per_class,
        "class_names": list(data.class_names),
        "weights_file": weights.name,
        "weights_sha256": sha,
        "weights_bytes": weights.stat().st_size,
        "data": {
            "description": setting.description,
            "load": f"ganforge.data.load_dataset({setting.spec!r}, {NATIVE_SIZE}, 1)",
            "n_images": len(data),
            "class_counts": data.class_counts(),
            "files_sha256": data_files(setting.spec),
        },
        "split": {
            "method": "sklearn.model_selection.train_test_split(numpy.arange(n_images), "
            "test_size=test_size, random_state=seed, stratify=labels); returns (train, held_out)",
            "test_size": setting.test_size,
            "seed": seed,
            "n_train": len(train_idx),
            "n_held_out": len(held_idx),
            "held_out_indices_sha256": indices_sha256(held_idx),
        },
        "training": {
            "epochs": epochs,
            "batch_size": BATCH_SIZE,
            "optimizer": "AdamW lr 3e-3 weight_decay 5e-4, OneCycleLR pct_start 0.15",
            "augmentation": f"random translation up to +-{MAX_SHIFT} px in x and y (black fill)",
            "seed": seed,
            "threads": threads,
            "seconds": round(seconds, 1),
            **{k: round(v, 6) for k, v in stats.items()},
        },
        "architecture": {
            "class": "ganforge.metrics.classifiers.DomainClassifier",
            "channels": list(CHANNELS),
            "feature_dim": FEATURE_DIM,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        "input": RESIZE + "; scaled to [-1, 1]",
        "command": command,
        "date": datetime.now(timezone.utc).date().isoformat(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    check = load_classifier(name, weights_dir=out_dir)
    again = predict(check, data.images[held_idx])
    if not np.array_equal(again, predicted):
        raise GanforgeError("the saved classifier does not reproduce its own held-out predictions")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ganforge.metrics.train_classifier",
        description="Train a domain classifier and write its weights + metadata.",
    )
    parser.add_argument("name", choices=["digits", "mnist"])
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST_DIR,
                        help="directory of MNIST idx files (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None, help="default: 40 digits, 20 mnist")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads (results are reproducible for a fixed count)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR,
                        help="output directory (default: the package's weights folder)")
    args = parser.parse_args(argv)
    parts = ["python", "-m", "ganforge.metrics.train_classifier", args.name]
    if args.name == "mnist":
        parts += ["--mnist-dir", str(args.mnist_dir)]
    epochs = args.epochs or settings(args.mnist_dir)[args.name].epochs
    parts += ["--epochs", str(epochs), "--seed", str(args.seed), "--threads", str(args.threads)]
    try:
        meta = run(args.name, args.mnist_dir, epochs, args.seed, args.out, args.threads,
                   shlex.join(parts))
    except GanforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: held-out accuracy {meta['held_out_accuracy']:.4f} "
          f"({meta['held_out_correct']}/{meta['split']['n_held_out']}), "
          f"{meta['weights_bytes']} bytes, sha256 {meta['weights_sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
