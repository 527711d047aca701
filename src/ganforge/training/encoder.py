"""Training an inversion encoder for a fixed generator (`ganforge train --recipe encoder
--generator GEN`): a clean loop of its own (the generator is frozen, there is no discriminator),
with the engine's checkpoint machinery: atomic checkpoints with SHA-256 sidecars, the newest
good one resumed, and exact resume (each step's batch is drawn from a generator seeded by the
step, so a resumed run draws what an uninterrupted one would).

The run directory: encoder.json (the generator's identity and the settings), metrics.jsonl,
checkpoints/step_XXXXXXXX.pt and, at the end, encoder.safetensors.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ganforge.editing.encoder import (
    Encoder,
    EncoderSettings,
    build_encoder,
    describe,
    encoder_loss,
    generator_batch,
)
from ganforge.editing.identity import check_same, fingerprint
from ganforge.editing.perceptual import Perceptual
from ganforge.editing.project import image_channels, w_statistics
from ganforge.errors import GanforgeError, check_count
from ganforge.generator import Generator
from ganforge.training.checkpoint import list_checkpoints, load_latest_checkpoint, save_checkpoint

ENCODER_FORMAT = "ganforge-encoder-v1"
STEP_SEED = 1_000_003
KEEP = 2


def is_encoder_run(path: Path | str) -> bool:
    meta = Path(path) / "encoder.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == ENCODER_FORMAT
    except ValueError:
        return False


def train_encoder(g: Generator, out: Path, steps: int, settings: EncoderSettings | None = None, *,
                  source: str = "", seed: int = 0, checkpoint_every: int = 100, real: torch.Tensor | None = None,
                  perceptual: Perceptual | None = None, resume: bool = False, log_every: int = 10,
                  progress: bool = False) -> Path:
    """Train (or, with `resume`, continue to `steps`) and write OUT/encoder.safetensors."""
    check_count("--steps", steps, 10_000_000)
    check_count("--checkpoint-every", checkpoint_every, 10_000_000)
    out = Path(out)
    meta_path = out / "encoder.json"
    if resume:
        if not is_encoder_run(out):
            raise GanforgeError(f"'{out}' is not an encoder run (no encoder.json); start one with "
                                "ganforge train --recipe encoder --generator GEN --out DIR")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        check_same(meta["generator_sha256"], fingerprint(g.generator), str(out), "encoder run")
        settings = EncoderSettings(**meta["settings"])
        seed = int(meta["seed"])
    else:
        if out.exists() and any(out.iterdir()):
            raise GanforgeError(f"'{out}' exists and is not empty; choose a new --out (or --resume it)")
        settings = settings or EncoderSettings()
    channels = image_channels(g)
    torch.manual_seed(seed)
    encoder = build_encoder(g, channels, settings.width).to(g.device)
    w_std = 1.0
    if encoder.style:
        mean, w_std = w_statistics(g, 10_000)
        encoder.w_avg.copy_(mean)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=settings.lr)
    start = 0
    if resume and list_checkpoints(out / "checkpoints"):
        _, state, _ = load_latest_checkpoint(out / "checkpoints")
        encoder.load_state_dict(state["encoder"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        _truncate_log(out / "metrics.jsonl", start)
    if not resume:
        out.mkdir(parents=True, exist_ok=True)
        meta = {"format": ENCODER_FORMAT, "generator": source, "generator_sha256": fingerprint(g.generator),
                "seed": seed, "settings": asdict(settings), "w_std": w_std, "channels": channels,
                "resolution": g.resolution, "real_images": 0 if real is None else int(real.shape[0]),
                **{k: v for k, v in describe(encoder, settings).items() if k != "settings"}}
        meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    encoder.train()
    begin = time.perf_counter()
    for step in range(start, steps):
        rng = torch.Generator().manual_seed(seed * STEP_SEED + step)
        code, images = generator_batch(g, settings.batch_size, rng)
        loss, terms = encoder_loss(g, encoder, images, code, settings, perceptual, w_std)
        if real is not None:
            pick = torch.randint(0, real.shape[0], (settings.batch_size,), generator=rng)
            real_loss, real_terms = encoder_loss(g, encoder, real[pick].to(g.device), None, settings, perceptual, w_std)
            loss = loss + real_loss
            terms.update({f"real_{k}": v for k, v in real_terms.items()})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done = step + 1
        if done % log_every == 0 or done == steps:
            record = {"step": done, "loss": loss.item(), **terms, "seconds": time.perf_counter() - begin}
            with (out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            if progress:
                print(f"step {done}/{steps}: loss {record['loss']:.4f}", flush=True)
        if done % checkpoint_every == 0 or done == steps:
            save_checkpoint({"encoder": encoder.state_dict(), "optimizer": optimizer.state_dict(), "step": done},
                            out / "checkpoints", done, KEEP)
    encoder.eval()
    tmp = out / ".encoder.safetensors.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}, str(tmp),
              metadata={"format": ENCODER_FORMAT})
    tmp.replace(out / "encoder.safetensors")
    return out


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a resume starts from."""
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    kept = [ln for ln in lines if json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")


def load_encoder(path: Path | str, g: Generator) -> Encoder:
    """A trained encoder of this generator (its identity checked)."""
    path = Path(path)
    if not is_encoder_run(path) or not (path / "encoder.safetensors").is_file():
        raise GanforgeError(f"'{path}' is not a finished encoder run (encoder.json + encoder.safetensors); "
                            "train one with ganforge train --recipe encoder --generator GEN")
    meta = json.loads((path / "encoder.json").read_text(encoding="utf-8"))
    check_same(meta["generator_sha256"], fingerprint(g.generator), str(path), "encoder")
    encoder = build_encoder(g, int(meta["channels"]), int(meta["settings"]["width"]))
    encoder.load_state_dict(load_file(str(path / "encoder.safetensors")))
    return encoder.to(g.device).eval().requires_grad_(False)
