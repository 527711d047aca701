"""Train the shipped segmenter of SPADE's demo: `python -m ganforge.metrics.train_segmenter`.

The judge of `miou`: a DigitSegmenter on the real canvases of `demo:digit-canvases` (64 px RGB,
11 classes). Every epoch draws fresh canvases from the demo's training digits only (a new
layout seed per epoch); it is held out on the demo's 300 test canvases (its test digits).
Deterministic for a given seed, thread count and torch build. Writes `digit_segmenter.safetensors`
and `.json` into `ganforge/metrics/weights/segmenters/`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.checksums import file_sha256
from ganforge.metrics.segmenter import (
    NATIVE_SIZE,
    SEGMENTER_DIR,
    DigitSegmenter,
    load_segmenter,
    mean_iou,
    to_segmenter_input,
)
from ganforge.translation import canvases
from ganforge.translation.demos import split

NAME = "digit_segmenter"
CLASS_NAMES = ["background", *(f"digit_{d}" for d in range(10))]
WIDTH = 32
LAYOUT_SEED = 100  # + epoch: each epoch's fresh training canvases


def train(epochs: int, batch: int, lr: float, seed: int, out_dir: Path, width: int = WIDTH) -> dict:
    torch.manual_seed(seed)
    model = DigitSegmenter(len(CLASS_NAMES), width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    train_idx, _ = split()
    per_epoch = canvases.TRAIN_CANVASES
    steps = epochs * (per_epoch // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)
    start, loss_value = time.time(), float("nan")
    for epoch in range(epochs):
        labels, images = canvases.resize_pair(*canvases.make_canvases(train_idx, per_epoch, LAYOUT_SEED + epoch),
                                              NATIVE_SIZE)
        order = torch.randperm(per_epoch)
        model.train()
        for i in range(per_epoch // batch):
            pick = order[i * batch : (i + 1) * batch]
            _, logits = model(to_segmenter_input(images[pick]))
            loss = F.cross_entropy(logits, labels[pick, 0].long())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_value = float(loss.detach())
        print(f"epoch {epoch + 1}/{epochs}: loss {loss_value:.4f} ({time.time() - start:.0f} s)", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    path = out_dir / f"{NAME}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    meta = {"name": NAME, "class_names": CLASS_NAMES, "weights_file": path.name,
            "weights_sha256": file_sha256(path), "weights_bytes": path.stat().st_size,
            "architecture": {"class": "ganforge.metrics.segmenter.DigitSegmenter", "width": width},
            "data": {"description": "demo:digit-canvases (ganforge.translation.canvases), 64 px RGB read at 32 px",
                     "train": f"{per_epoch} fresh canvases per epoch of the demo's training digits "
                              f"(layout seeds {LAYOUT_SEED}..{LAYOUT_SEED + epochs - 1})",
                     "held_out": "the demo's 300 test canvases (its held-out digits)"},
            "training": {"epochs": epochs, "batch_size": batch, "seed": seed, "threads": torch.get_num_threads(),
                         "optimizer": f"AdamW lr {lr} weight_decay 1e-4, OneCycleLR pct_start 0.15",
                         "loss": "per-pixel cross-entropy", "seconds": round(time.time() - start, 1),
                         "final_train_loss": round(loss_value, 6)},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "python": platform.python_version()}
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    judge = load_segmenter(NAME, weights_dir=out_dir)
    test_labels, test_images = canvases.digit_canvases("test")
    scores = mean_iou(judge.predict(test_images), test_labels[:, 0], len(CLASS_NAMES))
    meta["held_out_miou"] = scores["miou"]
    meta["held_out_pixel_accuracy"] = scores["pixel_accuracy"]
    meta["held_out_per_class_iou"] = dict(zip(CLASS_NAMES, scores["per_class_iou"], strict=True))
    (out_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=SEGMENTER_DIR)
    args = parser.parse_args(argv)
    meta = train(args.epochs, args.batch_size, args.lr, args.seed, args.out)
    print(json.dumps({k: meta[k] for k in ("held_out_miou", "held_out_pixel_accuracy")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
