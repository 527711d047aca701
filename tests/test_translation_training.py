"""Training translation models: one step changes every network, resume is exact (networks,
optimisers, schedulers, pools, data order, RNGs), and a short pix2pix run measurably learns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ganforge import api
from ganforge.config import Config
from ganforge.training.checkpoint import load_latest_checkpoint
from ganforge.training.launch import make_loop
from ganforge.training.run_dir import RunDir
from ganforge.translation.data import TranslationData, load_translation_data
from resume_support import StopAfter, train_rows

COMMON = [
    "translation.ngf=4",
    "translation.ndf=4",
    "translation.discriminator=n_layers",
    "translation.n_layers_d=1",
    "translation.channels_a=1",
    "translation.channels_b=3",
    "translation.features=none",
    "translation.eval_every=0",
    "translation.eval_n=8",
    "train.batch_size=2",
    "train.device=cpu",
    "train.log_every=1",
    "train.sample_every=3",
    "train.checkpoint_every=100",
    "monitor.plot=false",
    "demo_overrides=[]",
]
TINY = {
    # unet_64: six downs, so one decoder block carries dropout (exercises the RNG on resume)
    "pix2pix": COMMON
    + ["translation.generator=unet_64", "translation.load_size=68", "translation.crop_size=64"],
    "cyclegan": COMMON
    + [
        "translation.generator=resnet_1blocks",
        "translation.load_size=18",
        "translation.crop_size=16",
        "translation.pool_size=3",
        "translation.lambda_identity=0",
    ],
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Small convolutions gain nothing from a second thread, and on a busy machine two threads
    wait on each other for far longer than the work takes."""
    torch.set_num_threads(1)


def tiny_config(mode: str, extra: list[str] | None = None) -> Config:
    return api.make_config(mode, TINY[mode] + list(extra or []), data="paired:unused")


def random_data(config: Config, n: int = 6, paired: bool = True) -> TranslationData:
    tc = config.translation
    gen = torch.Generator().manual_seed(0)

    def images(count: int, channels: int, side: int) -> torch.Tensor:
        return torch.randint(
            0, 256, (count, channels, side, side), generator=gen, dtype=torch.uint8
        )

    return TranslationData(
        images(n, 1, tc.load_size),
        images(n + (0 if paired else 1), 3, tc.load_size),
        paired,
        images(4, 1, tc.crop_size),
        images(4, 3, tc.crop_size),
        True,
        "test",
    )


@pytest.mark.parametrize("mode", ["pix2pix", "cyclegan"])
def test_one_step_changes_every_network(mode: str, tmp_path: Path) -> None:
    config = tiny_config(mode)
    trainer = make_loop(config, random_data(config), RunDir(tmp_path))
    before = {
        name: {k: v.clone() for k, v in net.state_dict().items()}
        for name, net in trainer.task.model.networks.items()
    }
    losses = trainer.task.train_step()
    assert set(trainer.task.model.networks) == (
        {"G", "D"} if mode == "pix2pix" else {"G_AB", "G_BA", "D_A", "D_B"}
    )
    for name, net in trainer.task.model.networks.items():
        weights = {k: v for k, v in net.state_dict().items() if k.endswith("weight")}
        changed = [k for k, v in weights.items() if not torch.equal(v, before[name][k])]
        assert changed == list(weights), f"{name}: unchanged {set(weights) - set(changed)}"
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    if mode == "cyclegan":
        assert {"loss_cycle_a", "loss_cycle_b", "loss_d_a", "loss_d_b"} <= set(losses)
        assert len(trainer.task.model.pools["fake_b"]) == 2  # the batch entered the pool


@pytest.mark.parametrize("mode", ["pix2pix", "cyclegan"])
def test_resume_is_exact(mode: str, tmp_path: Path) -> None:
    # 2 epochs of 3 steps: the learning rate decays at the epoch boundary
    config = tiny_config(
        mode,
        ["translation.epochs=1", "translation.epochs_decay=1", "translation.steps_per_epoch=3"],
    )
    data = random_data(config, paired=mode == "pix2pix")
    straight = make_loop(config, data, RunDir(tmp_path / "straight"))
    straight.fit(progress=False)
    assert straight.step == 6

    first = make_loop(config, data, RunDir(tmp_path / "resumed"))
    first.fit(progress=False, stop=StopAfter(first, 4))
    assert first.step == 4 and first.stopped_by == "SIGTERM"
    torch.manual_seed(12345)  # whatever happens in between must not matter
    second = make_loop(config, data, RunDir(tmp_path / "resumed"))
    _, state, _ = load_latest_checkpoint(RunDir(tmp_path / "resumed").checkpoints)
    second.load_state_dict(state)
    assert second.step == 4 and second.task.lr == pytest.approx(2e-4 / 2)
    second.fit(progress=False)

    for name, net in straight.task.model.networks.items():
        other = second.task.model.networks[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), (name, key)
    for name, pool in straight.task.model.pools.items():
        assert all(
            torch.equal(a, b)
            for a, b in zip(pool.images, second.task.model.pools[name].images, strict=True)
        )
    assert second.task.lr == straight.task.lr == 0.0
    assert train_rows(tmp_path / "straight") == train_rows(tmp_path / "resumed")


def test_short_pix2pix_run_learns_edges_to_digits(tmp_path: Path) -> None:
    """~150 steps on the built-in paired demo: the test translations approach the truth."""
    config = api.make_config(
        "pix2pix",
        [
            "translation.ngf=16",
            "translation.ndf=16",
            "translation.epochs=3",
            "translation.epochs_decay=0",
            "translation.steps_per_epoch=50",
            "translation.eval_every=0",
            "translation.eval_n=100",
            "train.sample_every=1000",
            "train.log_every=50",
            "train.device=cpu",
            "monitor.plot=false",
        ],
    )
    assert config.translation.generator == "unet_32"  # the demo settings applied
    data = load_translation_data(config.data.source, config.translation)
    trainer = make_loop(config, data, RunDir(tmp_path / "run"))
    before = trainer.task.evaluator(trainer.task.model)
    trainer.fit(progress=False)
    after = trainer.task.last_eval
    assert after["step"] == 150
    assert after["l1_AtoB"] < 0.5 * before["l1_AtoB"]
    assert after["ssim_AtoB"] > before["ssim_AtoB"] + 0.3
    assert after["psnr_AtoB"] > before["psnr_AtoB"] + 6
    assert after["fid_AtoB"] < 0.2 * before["fid_AtoB"]
    assert after["digit_accuracy_AtoB"] > 0.6  # the digits classifier reads what was drawn
    evaluation = (tmp_path / "run" / "evaluation.json").read_text()
    assert '"features": "digits"' in evaluation and '"ground_truth": true' in evaluation


def test_training_needs_paired_data_for_pix2pix(tmp_path: Path) -> None:
    from ganforge.errors import GanforgeError

    config = tiny_config("pix2pix")
    with pytest.raises(GanforgeError, match="pix2pix trains on paired data"):
        make_loop(config, random_data(config, paired=False), RunDir(tmp_path))
    cyclegan = tiny_config("cyclegan")
    trainer = make_loop(cyclegan, random_data(cyclegan, paired=True), RunDir(tmp_path))
    assert set(trainer.task.stream.streams) == {"A", "B"}  # CycleGAN draws paired data unpaired
    assert replace(cyclegan.translation, mode="x").mode == "x"
