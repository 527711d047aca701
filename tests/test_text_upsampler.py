"""GigaGAN's text-conditioned upsampler: the packed condition, G's multi-scale shapes (8 -> 32)
and its bicubic start, the perceptual term's form, 2 training steps + exact resume, chaining after
a base run from the CLI, and the one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganforge
from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.models.gigagan_upsampler import downsample, pack, unpack
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.launch import load_task_data, make_loop
from ganforge.training.methods.gigagan_upsampler import Perceptual
from ganforge.training.run_dir import RunDir

SMALL = ["model.ch=8", "model.style_dim=16", "model.heads=2", "model.n_kernels=2", "text.width=16",
         "text.embed_dim=16", "text.heads=2", "text.pretrain_steps=2", "text.pretrain_batch=8",
         "train.batch_size=4", "train.log_every=1", "train.sample_every=1000", "train.checkpoint_every=1000",
         "monitor.plot=false", "train.device=cpu"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_pack_round_trips_ids_and_pixels() -> None:
    ids = torch.tensor([[5, 17, -1, -1], [49407, 3, 2, -1]])  # CLIP's padding (-1) and a large id
    low = torch.rand(2, 3, 8, 8) * 2 - 1
    back_ids, back_low = unpack(pack(ids, low), 4, 3, 8)
    assert torch.equal(back_ids, ids) and torch.equal(back_low, low)
    with pytest.raises(ValueError, match="packed"):
        unpack(ids, 4, 3, 8)


def test_perceptual_term_is_zero_for_equal_images_and_grows_with_the_difference() -> None:
    p = Perceptual()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert p(x, x).item() == pytest.approx(0.0, abs=1e-6)
    small, large = p(x, x + 0.05 * torch.randn_like(x)), p(x, -x)
    assert 0 < small.item() < large.item()


def test_shapes_bicubic_start_and_text_conditioned_d(tmp_path: Path) -> None:
    config, data = load_task_data(api.make_config("gigagan-upsampler", SMALL))
    task = make_loop(config, data, RunDir(tmp_path)).task
    G, D = task.G, task.D
    y = task.sample_y[::8][:3]  # three rows: a real image (8 px) and its caption each
    assert y.shape == (3, config.text.max_len + 3 * 8 * 8)
    images = G(torch.randn(3, G.dim_z), y, pyramid=True)
    assert [tuple(x.shape) for x in images] == [(3, 3, 8, 8), (3, 3, 16, 16), (3, 3, 32, 32)]
    # every output is a residual on the input resized, and the RGB layers start at zero: an
    # untrained G is bicubic upsampling exactly, at every scale of its pyramid
    low = unpack(y, config.text.max_len, 3, 8)[1]
    for image in images:
        size = image.shape[-1]
        assert torch.equal(image, F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False))
    # ... until the first G step moves the residual off zero
    task.train_step(1)
    assert not torch.equal(G(torch.randn(3, G.dim_z), y), images[-1])
    assert D(images, y, per_scale=True).shape == (3, 6)  # 3 levels: 3 + 2 + 1 (input, judged) pairs
    real = task.to_model_range(data.images[:3])
    assert torch.equal(downsample(real, 8), downsample(real, 8)) and downsample(real, 8).shape == (3, 3, 8, 8)


def test_the_residual_learns_what_bicubic_misses(tmp_path: Path) -> None:
    """A few reconstruction steps on one batch beat bicubic: the residual path is trainable (at
    their default initialisation the attention blocks drowned the image features and G stayed at
    bicubic; their branches start at zero now)."""
    config, data = load_task_data(api.make_config("gigagan-upsampler", SMALL))
    G = make_loop(config, data, RunDir(tmp_path)).task.G
    real = data.images[:8].float().div(127.5).sub(1.0)
    y = pack(torch.full((8, config.text.max_len), 2), downsample(real, 8))
    z = torch.zeros(8, G.dim_z)
    bicubic = (G(z, y) - real).pow(2).mean().item()
    opt = torch.optim.Adam([p for p in G.parameters() if p.requires_grad], lr=1e-3, betas=(0.0, 0.99))
    for _ in range(60):
        loss = (G(z, y) - real).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (G(z, y) - real).pow(2).mean().item() < 0.85 * bicubic  # 0.77 here; 0.91 without the zeros


def test_two_steps_resume_exactly_and_chain_after_a_base_run(tmp_path: Path) -> None:
    def args(out: Path, steps: int) -> list[str]:
        return ["train", "--recipe", "gigagan-upsampler", "--out", str(out), "--steps", str(steps),
                "--no-progress", *SMALL]

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(args(straight, 2)) == 0
    assert main(args(resumed, 1)) == 0
    assert main(["train", "--resume", str(resumed), "--steps", "2", "--no-progress"]) == 0
    a = load_checkpoint(straight / "checkpoints" / "step_00000002.pt")
    b = load_checkpoint(resumed / "checkpoints" / "step_00000002.pt")
    for key in ("G", "D", "G_ema"):
        assert [k for k in a[key] if not torch.equal(a[key][k], b[key][k])] == []
    rows = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    assert all(r["recon_l1"] > 0 and r["recon_perceptual"] > 0 for r in rows if r["kind"] == "train")
    # chained after an 8 px base GigaGAN: one row per sentence, 32 px images
    base = tmp_path / "base8"
    assert main(["train", "--recipe", "gigagan", "--out", str(base), "--steps", "1", "--no-progress", *SMALL,
                 "model.resolution=8", "model.attn_resolutions=[8]"]) == 0
    out = tmp_path / "chain.png"
    texts = ["a small red seven in the top left", "a large blue two"]
    assert main(["sample", str(base), "--text", texts[0], "--text", texts[1], "--n", "3",
                 "--upsampler", str(straight), "--out", str(out)]) == 0
    assert Image.open(out).size == (3 * 34 + 2, 2 * 34 + 2)
    low = ganforge.load(base).sample_text(texts, 3, seed=0)
    up = ganforge.load(straight)
    assert torch.equal(up.upsample(low, [t for t in texts for _ in range(3)]),
                       up.upsample(low, [t for t in texts for _ in range(3)]))
    with pytest.raises(GanforgeError, match="text-conditioned upsampler"):
        up.sample_text(texts)
    with pytest.raises(GanforgeError, match="takes 3x8x8 images"):
        up.upsample(torch.zeros(1, 3, 16, 16), ["a red two"])
    assert main(["sample", str(straight), "--text", "a red two", "--upsampler", str(base),
                 "--out", str(tmp_path / "x.png")]) == 2  # an upsampler is not a base model
