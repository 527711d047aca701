"""Train the shipped attribute classifier of StarGAN's demo:
`python -m ganforge.metrics.train_attribute_classifier`.

The judge of `attribute_accuracy`: a multi-label DomainClassifier on RGB 32x32 images with one
logit per attribute of `demo:digit-attributes` (thick, inverted, red). It trains on the demo's
training digits only, each drawn every epoch with a fresh random attribute vector (so all 8
domains), shifted by up to +-2 px; it is held out on the demo's 300 test digits in all 8
domains. Deterministic for a given seed, thread count and torch build. Writes
`digit_attributes.safetensors` and `.json` into `ganforge/metrics/weights/`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.checksums import file_sha256
from ganforge.errors import GanforgeError
from ganforge.metrics.classifiers import (
    WEIGHTS_DIR,
    DomainClassifier,
    load_classifier,
    to_classifier_input,
)
from ganforge.metrics.train_classifier import (
    BATCH_SIZE,
    CHANNELS,
    FEATURE_DIM,
    MAX_SHIFT,
    random_shift,
)
from ganforge.translation import demos

NAME = "digit_attributes"
SIDE = 32
EVAL_BATCH = 500


def all_domains(digits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every digit in each of the 2^K attribute combinations: (images, attributes)."""
    k = len(demos.ATTRIBUTES)
    combos = torch.tensor([[(c >> i) & 1 for i in range(k)] for c in range(2**k)], dtype=torch.float32)
    attrs = combos.repeat_interleave(len(digits), 0)
    return demos.with_attributes(digits.repeat(2**k, 1, 1, 1), attrs), attrs


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """0/1 predictions (N, K) of uint8 RGB images through the shipped input pipeline."""
    out = [model(chunk)[1] > 0 for chunk in images.split(EVAL_BATCH)]
    return torch.cat(out).float()


def train(digits: torch.Tensor, epochs: int, seed: int) -> tuple[DomainClassifier, dict[str, float]]:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    k = len(demos.ATTRIBUTES)
    model = DomainClassifier(k, CHANNELS, FEATURE_DIM, in_channels=3)
    steps = epochs * -(-len(digits) // BATCH_SIZE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    stats: dict[str, float] = {}
    start = time.time()
    for epoch in range(epochs):
        model.train()
        attrs = torch.randint(0, 2, (len(digits), k), generator=generator).float()
        images = demos.with_attributes(digits, attrs)
        order = torch.randperm(len(digits), generator=generator)
        total, correct = 0.0, 0.0
        for batch in order.split(BATCH_SIZE):
            x = to_classifier_input(random_shift(images[batch], generator), channels=3)
            _, logits = model(x)
            loss = F.binary_cross_entropy_with_logits(logits, attrs[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
            correct += float(((logits > 0).float() == attrs[batch]).float().mean()) * len(batch)
        stats = {"train_loss": total / len(digits), "train_accuracy_augmented": correct / len(digits)}
        print(f"epoch {epoch + 1}/{epochs}: loss {stats['train_loss']:.4f} acc "
              f"{stats['train_accuracy_augmented']:.4f} ({time.time() - start:.0f}s)", flush=True)
    return model.eval(), stats


def run(epochs: int, seed: int, out_dir: Path, threads: int, command: str) -> dict[str, Any]:
    from safetensors.torch import save_file

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    digits, _ = demos.digits_at(SIDE)
    train_idx, test_idx = demos.split()
    started = time.time()
    model, stats = train(digits[train_idx], epochs, seed)
    seconds = time.time() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{NAME}.safetensors"
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={"ganforge_domain_classifier": NAME})
    weights.chmod(0o644)
    held_images, held_attrs = all_domains(digits[test_idx])
    predicted = predict(lambda x: model(to_classifier_input(x, channels=3)), held_images)
    per_attribute = {name: float((predicted[:, i] == held_attrs[:, i]).float().mean())
                     for i, name in enumerate(demos.ATTRIBUTES)}
    meta: dict[str, Any] = {
        "name": NAME,
        "multi_label": True,
        "held_out_accuracy": float((predicted == held_attrs).float().mean()),
        "held_out_exact_match": float((predicted == held_attrs).all(1).float().mean()),
        "held_out_per_attribute_accuracy": per_attribute,
        "class_names": list(demos.ATTRIBUTES),
        "weights_file": weights.name,
        "weights_sha256": file_sha256(weights),
        "weights_bytes": weights.stat().st_size,
        "data": {
            "description": "the digit-attributes demo (ganforge.translation.demos.with_attributes): "
            "scikit-learn digits at 32 px RGB, drawn thick / inverted / red",
            "train": f"the demo's {len(train_idx)} training digits, a fresh random attribute "
            "vector per digit and epoch",
            "held_out": f"the demo's {len(test_idx)} test digits in all 8 attribute combinations",
        },
        "training": {
            "epochs": epochs, "batch_size": BATCH_SIZE, "seed": seed, "threads": threads,
            "optimizer": "AdamW lr 3e-3 weight_decay 5e-4, OneCycleLR pct_start 0.15",
            "loss": "binary cross-entropy per attribute",
            "augmentation": f"random translation up to +-{MAX_SHIFT} px in x and y (black fill)",
            "seconds": round(seconds, 1), **{k: round(v, 6) for k, v in stats.items()},
        },
        "architecture": {
            "class": "ganforge.metrics.classifiers.DomainClassifier", "channels": list(CHANNELS),
            "feature_dim": FEATURE_DIM, "in_channels": 3,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        "input": "RGB, centre-cropped square, antialiased bilinear to 32x32; scaled to [-1, 1]",
        "command": command,
        "date": datetime.now(timezone.utc).date().isoformat(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    again = predict(load_classifier(NAME, weights_dir=out_dir), held_images)
    if not torch.equal(again, predicted):
        raise GanforgeError("the saved classifier does not reproduce its own held-out predictions")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganforge.metrics.train_attribute_classifier",
                                     description="Train the digit-attributes classifier.")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "ganforge.metrics.train_attribute_classifier", "--epochs",
                          str(args.epochs), "--seed", str(args.seed), "--threads", str(args.threads)])
    meta = run(args.epochs, args.seed, args.out, args.threads, command)
    print(f"{NAME}: held-out accuracy {meta['held_out_accuracy']:.4f} (exact match "
          f"{meta['held_out_exact_match']:.4f}), {meta['weights_bytes']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
