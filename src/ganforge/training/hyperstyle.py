"""Training HyperStyle's hypernetwork for a generator and its trained encoder (`ganforge train
--recipe hyperstyle --generator GEN --encoder ENC`): the encoder is frozen, each step's images
(the generator's samples and, when given, real images) are encoded, then refined for
`iterations` steps, and the loss of every iteration's reconstruction trains the hypernetwork.
The same run directory, checkpoints and exact resume as the encoder's (`training.encoder`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ganforge.editing.encoder import generator_batch
from ganforge.editing.hyperstyle import HyperNetwork, hyper_loss, target_layers
from ganforge.editing.identity import check_same, fingerprint
from ganforge.editing.perceptual import Perceptual
from ganforge.editing.project import image_channels
from ganforge.errors import GanforgeError, check_count
from ganforge.generator import Generator
from ganforge.training.checkpoint import list_checkpoints, load_latest_checkpoint, save_checkpoint
from ganforge.training.encoder import STEP_SEED, _truncate_log, load_encoder

HYPER_FORMAT = "ganforge-hyperstyle-v1"
KEEP = 2


def is_hyper_run(path: Path | str) -> bool:
    meta = Path(path) / "hyperstyle.json"
    try:
        return meta.is_file() and json.loads(meta.read_text(encoding="utf-8")).get("format") == HYPER_FORMAT
    except ValueError:
        return False


def train_hypernetwork(g: Generator, encoder_dir: Path | str | None, out: Path, steps: int, *, batch_size: int = 8,
                       iterations: int = 2, lr: float = 1e-4, width: int = 32, seed: int = 0,
                       checkpoint_every: int = 100, real: torch.Tensor | None = None,
                       perceptual: Perceptual | None = None, resume: bool = False, log_every: int = 10,
                       progress: bool = False) -> Path:
    check_count("--steps", steps, 10_000_000)
    out = Path(out)
    layers = target_layers(g)
    if resume:
        if not is_hyper_run(out):
            raise GanforgeError(f"'{out}' is not a HyperStyle run (no hyperstyle.json)")
        meta = json.loads((out / "hyperstyle.json").read_text(encoding="utf-8"))
        check_same(meta["generator_sha256"], fingerprint(g.generator), str(out), "HyperStyle run")
        batch_size, iterations, lr, width, seed = (meta[k] for k in ("batch_size", "iterations", "lr", "width", "seed"))
        encoder_dir = encoder_dir or meta["encoder"]
    elif out.exists() and any(out.iterdir()):
        raise GanforgeError(f"'{out}' exists and is not empty; choose a new --out (or --resume it)")
    if encoder_dir is None:
        raise GanforgeError("HyperStyle needs --encoder ENCODER_RUN (train one with --recipe encoder)")
    encoder = load_encoder(encoder_dir, g)
    torch.manual_seed(seed)
    hyper = HyperNetwork(layers, image_channels(g), g.resolution, width).to(g.device)
    optimizer = torch.optim.Adam(hyper.parameters(), lr=lr)
    start = 0
    if resume and list_checkpoints(out / "checkpoints"):
        _, state, _ = load_latest_checkpoint(out / "checkpoints")
        hyper.load_state_dict(state["hyper"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        _truncate_log(out / "metrics.jsonl", start)
    if not resume:
        out.mkdir(parents=True, exist_ok=True)
        meta = {"format": HYPER_FORMAT, "generator_sha256": fingerprint(g.generator), "encoder": str(encoder_dir),
                "batch_size": batch_size, "iterations": iterations, "lr": lr, "width": width, "seed": seed,
                "channels": image_channels(g), "layers": list(layers), "rank": hyper.rank,
                "parameters": sum(p.numel() for p in hyper.parameters())}
        (out / "hyperstyle.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    begin = time.perf_counter()
    for step in range(start, steps):
        rng = torch.Generator().manual_seed(seed * STEP_SEED + step)
        _, images = generator_batch(g, batch_size, rng)
        if real is not None:
            pick = torch.randint(0, real.shape[0], (batch_size,), generator=rng)
            images = torch.cat([images, real[pick].to(g.device)])
        with torch.no_grad():
            code = encoder.encode(images)
        loss, terms = hyper_loss(g, hyper, code, images, iterations, perceptual)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done = step + 1
        if done % log_every == 0 or done == steps:
            with (out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": done, "loss": loss.item(), **terms,
                                     "seconds": time.perf_counter() - begin}) + "\n")
            if progress:
                print(f"step {done}/{steps}: loss {loss.item():.4f}", flush=True)
        if done % checkpoint_every == 0 or done == steps:
            save_checkpoint({"hyper": hyper.state_dict(), "optimizer": optimizer.state_dict(), "step": done},
                            out / "checkpoints", done, KEEP)
    tmp = out / ".hyperstyle.safetensors.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in hyper.state_dict().items()}, str(tmp),
              metadata={"format": HYPER_FORMAT})
    tmp.replace(out / "hyperstyle.safetensors")
    return out


def load_hypernetwork(path: Path | str, g: Generator) -> tuple[HyperNetwork, dict]:
    path = Path(path)
    if not is_hyper_run(path) or not (path / "hyperstyle.safetensors").is_file():
        raise GanforgeError(f"'{path}' is not a finished HyperStyle run (hyperstyle.json + "
                            "hyperstyle.safetensors); train one with ganforge train --recipe hyperstyle")
    meta = json.loads((path / "hyperstyle.json").read_text(encoding="utf-8"))
    check_same(meta["generator_sha256"], fingerprint(g.generator), str(path), "hypernetwork")
    hyper = HyperNetwork(target_layers(g), int(meta["channels"]), g.resolution, int(meta["width"]))
    hyper.load_state_dict(load_file(str(path / "hyperstyle.safetensors")))
    return hyper.to(g.device).eval().requires_grad_(False), meta
