"""GigaGAN on the engine: G's multi-scale outputs, the multi-scale D's per-scale text-conditioned
logits, its losses (matching-aware + R1), the recipe training 2 steps and resuming exactly,
sampling from text, and the CLIP loss refused rather than silently off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.models.gigagan_discriminator import GigaGANDiscriminator
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.launch import load_task_data, make_loop
from ganforge.training.run_dir import RunDir

TINY = ["model.ch=8", "model.style_dim=16", "model.heads=2", "model.n_kernels=2", "text.width=16",
        "text.embed_dim=16", "text.heads=2", "text.pretrain_steps=2", "text.pretrain_batch=8",
        "train.batch_size=4", "train.log_every=1", "train.sample_every=1000", "train.checkpoint_every=1000",
        "monitor.plot=false", "train.device=cpu"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_multi_scale_outputs_and_discriminator(tmp_path: Path) -> None:
    config, data = load_task_data(api.make_config("gigagan", TINY))
    task = make_loop(config, data, RunDir(tmp_path)).task
    G, D, y = task.G, task.D, task.sample_y[::8][:3]  # three rows: three captions
    images = G(torch.randn(3, G.dim_z), y, pyramid=True)
    assert [tuple(x.shape) for x in images] == [(3, 3, 8, 8), (3, 3, 16, 16), (3, 3, 32, 32)]
    assert torch.equal(G.eval()(torch.zeros(3, G.dim_z), y), G(torch.zeros(3, G.dim_z), y, pyramid=True)[-1])
    per_scale = D(images, y, per_scale=True)
    assert per_scale.shape == (3, 6) and torch.allclose(D(images, y), per_scale.mean(1))
    # a real image enters every scale by average pooling; each scale's logit depends on the text
    real = task.to_model_range(data.images[:3])
    assert D(real, y, per_scale=True).shape == (3, 6)
    assert not torch.allclose(D(real, y, per_scale=True), D(real, y.roll(1, 0), per_scale=True))
    stats = task.train_step(1)
    assert {"loss_d", "loss_g", "r1", "wrong_logit"} <= set(stats)


def test_ms_io_discriminator_feeds_each_level_at_its_depth_and_judges_every_pair() -> None:
    config = api.make_config("gigagan", TINY)
    config.text.vocab = ["a", "blue", "four", "red", "small", "two"]  # the data's would do too
    torch.manual_seed(0)
    D = GigaGANDiscriminator(config.model, config.text)
    y = torch.tensor([[1, 5, 2, 3], [4, 6, 0, 0]])
    pyramid = [torch.randn(2, 3, r, r) for r in (8, 16, 32)]  # G's order: 8 px first
    out = D(pyramid, y, per_scale=True)
    # (input resolution, resolution judged at): level i is judged after each block j >= i
    assert D.pairs == [(32, 16), (32, 8), (32, 4), (16, 8), (16, 4), (8, 4)] and out.shape == (2, 6)
    # D_ij by hand for the 16 px level judged at 4 px: its own stem, blocks 1 and 2, psi_2 + skip
    _, _, t = D.encoder(y)
    h = D.stems[1](pyramid[1])
    for k in (1, 2):
        h = D.attention[k](D.down[k](h))
    psi = D.predictors[2]
    x = h
    for conv in psi.hidden:
        x = torch.nn.functional.leaky_relu(conv(x, t), 0.2)
    assert torch.allclose(out[:, 4], (psi.out(x, t) + psi.skip(h)).mean((1, 2, 3)), atol=1e-5)
    # the levels share weights, not features: changing the 8 px image changes only its own pair,
    # changing the 32 px image only the three pairs that start there
    changed = ~torch.isclose(out, D([pyramid[0] + 1, *pyramid[1:]], y, per_scale=True), atol=1e-6).all(0)
    assert changed.tolist() == [False, False, False, False, False, True]
    changed = ~torch.isclose(out, D([*pyramid[:2], pyramid[2] + 1], y, per_scale=True), atol=1e-6).all(0)
    assert changed.tolist() == [True, True, True, False, False, False]


def test_recipe_trains_two_steps_resumes_exactly_and_samples_from_text(tmp_path: Path) -> None:
    def args(out: Path, steps: int) -> list[str]:
        return ["train", "--recipe", "gigagan", "--out", str(out), "--steps", str(steps), "--no-progress", *TINY]

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(args(straight, 2)) == 0
    assert main(args(resumed, 1)) == 0
    assert main(["train", "--resume", str(resumed), "--steps", "2", "--no-progress"]) == 0
    a = load_checkpoint(straight / "checkpoints" / "step_00000002.pt")
    b = load_checkpoint(resumed / "checkpoints" / "step_00000002.pt")
    for key in ("G", "D", "G_ema"):
        assert [k for k in a[key] if not torch.equal(a[key][k], b[key][k])] == []
    rows = [[json.loads(x) for x in (r / "metrics.jsonl").read_text().splitlines()] for r in (straight, resumed)]
    losses = [[{k: v for k, v in r.items() if k.startswith("loss")} for r in rs if r["kind"] == "train"] for rs in rows]
    assert losses[0] == losses[1]
    out = tmp_path / "s.png"
    assert main(["sample", str(straight), "--text", "a small blue four", "--n", "2", "--out", str(out)]) == 0
    assert main(["export", str(straight), str(tmp_path / "export")]) == 0
    g, h = ganforge.load(straight), ganforge.load(tmp_path / "export")
    assert torch.equal(g.sample_text(["a red one"], 2, seed=1), h.sample_text(["a red one"], 2, seed=1))


def test_clip_loss_without_clip_weights_is_refused() -> None:
    with pytest.raises(GanforgeError, match="clip_weight=0.2 needs a CLIP image tower: train with text.encoder=clip:DIR"):
        api.validate_config(api.make_config("gigagan", [*TINY, "method.clip_weight=0.2"]))


def test_pyramid_from_4px_adds_a_4px_output_and_a_4px_input_level_judged_at_4px(tmp_path: Path) -> None:
    from ganforge.models.gigagan import GigaGANGenerator

    config = api.make_config("gigagan", [*TINY, "model.pyramid_4px=true", "model.attn_resolutions=[4, 8]"])
    config.text.vocab = ["a", "blue", "four", "red", "small", "two"]
    torch.manual_seed(0)
    G, D = GigaGANGenerator(config.model, config.text), GigaGANDiscriminator(config.model, config.text)
    y = torch.tensor([[1, 5, 2, 3], [4, 6, 0, 0]])
    images = G(torch.randn(2, G.dim_z), y, pyramid=True)
    assert [x.shape[-1] for x in images] == [4, 8, 16, 32] and len(G.blocks[0].attention) == 1
    out = D(images, y, per_scale=True)
    assert D.pairs == [(32, 16), (32, 8), (32, 4), (16, 8), (16, 4), (8, 4), (4, 4)] and out.shape == (2, 7)
    # the 4 px level by hand: its stem, the 4 px features' attention (none here), the last psi + skip
    _, _, t = D.encoder(y)
    h = D.attention[-1](D.stem_4px(images[0]))
    psi = D.predictors[-1]
    x = h
    for conv in psi.hidden:
        x = torch.nn.functional.leaky_relu(conv(x, t), 0.2)
    assert torch.allclose(out[:, 6], (psi.out(x, t) + psi.skip(h)).mean((1, 2, 3)), atol=1e-5)
    changed = ~torch.isclose(out, D([images[0] + 1, *images[1:]], y, per_scale=True), atol=1e-6).all(0)
    assert changed.tolist() == [False] * 6 + [True]
    changed = ~torch.isclose(out, D([*images[:3], images[3] + 1], y, per_scale=True), atol=1e-6).all(0)
    assert changed.tolist() == [True] * 3 + [False] * 4
    # a real image is pooled down to 4 px; a pyramid of the wrong depth is refused
    assert D(images[-1], y, per_scale=True).shape == (2, 7)
    with pytest.raises(ValueError, match="pyramid of 4 images"):
        D(images[1:], y)
    # off (what configs without the key get): the 8 px pyramid and no 4 px stem
    plain = api.make_config("gigagan", TINY)
    assert not plain.model.pyramid_4px
    with pytest.raises(GanforgeError, match="model.pyramid_4px"):  # the upsampler's pyramid starts at 8 px
        api.check_config("gigagan-upsampler", ["model.pyramid_4px=true"])
    # it trains: one step of the recipe with the 4 px level
    cfg, data = load_task_data(api.make_config("gigagan", [*TINY, "model.pyramid_4px=true"]))
    task = make_loop(cfg, data, RunDir(tmp_path)).task
    stats = task.train_step(1)
    assert {"loss_d", "loss_g", "r1"} <= set(stats) and all(map(lambda v: v == v, stats.values()))
