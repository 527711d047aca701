"""StarGAN on the translation task: label replication, each loss composed on hand-made tensors,
the n_critic schedule, the attribute data (demo, CelebA listing, CSV), the attribute metrics,
two demo steps that resume exactly, and `ganforge translate --to` with its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from closed_forms import bce
from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.metrics.translation_conditional import attribute_scores
from ganforge.models import count_parameters
from ganforge.models.stargan import StarGANDiscriminator, StarGANGenerator, replicate_label
from ganforge.objectives import gradient_penalty
from ganforge.training.checkpoint import load_latest_checkpoint
from ganforge.training.launch import load_task_data, make_loop
from ganforge.training.run_dir import RunDir, read_metrics
from ganforge.translation import demos
from ganforge.translation.conditions import flipped_targets, target_label
from ganforge.translation.data import load_translation_data
from ganforge.translation.stargan import StarGAN
from ganforge.translation.stargan_losses import (
    domain_classification_loss,
    stargan_d_loss,
    stargan_g_loss,
)
from resume_support import StopAfter, train_rows

TINY = [
    "translation.ngf=4",
    "translation.ndf=4",
    "translation.generator=resnet_1blocks",
    "translation.n_layers_d=3",
    "translation.load_size=16",
    "translation.crop_size=16",
    "translation.n_critic=2",
    "translation.eval_n=8",
    "translation.eval_every=0",
    "translation.steps_per_epoch=2",
    "translation.epochs=1",
    "translation.epochs_decay=1",
    "train.batch_size=4",
    "train.device=cpu",
    "train.log_every=1",
    "train.sample_every=2",
    "train.checkpoint_every=100",
    "monitor.plot=false",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# ---- networks and losses ---------------------------------------------------------------------
def test_label_replication_and_conditioning() -> None:
    c = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    grid = replicate_label(c, 4, 5)
    assert grid.shape == (2, 3, 4, 5)
    assert torch.equal(grid[:, :, 3, 4], c) and torch.equal(grid.amax((2, 3)), grid.amin((2, 3)))
    torch.manual_seed(0)
    g = StarGANGenerator(3, 3, 3, ngf=4, blocks=1)
    assert g.main[0].in_channels == 3 + 3  # the label's channels are concatenated to the image
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert not torch.allclose(g(x, c), g(x, 1 - c))
    with pytest.raises(ValueError, match=r"labels \(2, 3\)"):
        g(x, c[:, :2])


def test_discriminator_heads_and_official_sizes() -> None:
    d = StarGANDiscriminator(3, 16, 5, ndf=4, repeat=3)
    src, cls = d(torch.zeros(2, 3, 16, 16))
    assert src.shape == (2, 1, 2, 2) and cls.shape == (2, 5)
    with torch.device("meta"):  # the authors' sizes (benchmarks/manipulation.py checks their code)
        assert count_parameters(StarGANGenerator(3, 3, 5, 64, 6)) == 8_430_528
        assert count_parameters(StarGANDiscriminator(3, 128, 5, 64, 6)) == 44_762_048
    with pytest.raises(ValueError, match="divisible by 8"):
        StarGANDiscriminator(3, 12, 5, ndf=4, repeat=3)


def test_domain_classification_loss_is_summed_bce_over_the_batch() -> None:
    logits = torch.tensor([[0.0, 2.0], [-1.0, 0.5]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = (bce(0, 1) + bce(2, 0) + bce(-1, 0) + bce(0.5, 1)) / 2
    assert float(domain_classification_loss(logits, target)) == pytest.approx(expected, rel=1e-6)


def test_d_and_g_losses_composed_exactly() -> None:
    src_real = torch.tensor([[[[1.0, 3.0]]], [[[2.0, 2.0]]]])  # mean 2
    src_fake = torch.tensor([[[[0.5, -0.5]]], [[[1.0, 0.0]]]])  # mean 0.25
    cls_real, org = torch.tensor([[2.0], [-2.0]]), torch.tensor([[1.0], [0.0]])
    penalty = torch.tensor(0.3)
    parts = stargan_d_loss(src_real, cls_real, src_fake, penalty, org, 1.5, 10.0)
    cls = (bce(2, 1) + bce(-2, 0)) / 2
    assert float(parts["loss_d_adv"]) == pytest.approx(0.25 - 2.0)
    assert float(parts["loss_d_cls"]) == pytest.approx(cls, rel=1e-6)
    assert float(parts["loss_d"]) == pytest.approx(-1.75 + 1.5 * cls + 10 * 0.3, rel=1e-6)

    real = torch.zeros(2, 1, 2, 2)
    rec = torch.full((2, 1, 2, 2), 0.2)
    trg = torch.tensor([[0.0], [1.0]])
    parts = stargan_g_loss(src_fake, cls_real, trg, rec, real, 2.0, 10.0)
    cls_g = (bce(2, 0) + bce(-2, 1)) / 2
    assert float(parts["loss_g_adv"]) == pytest.approx(-0.25)
    assert float(parts["loss_g_rec"]) == pytest.approx(0.2)
    assert float(parts["loss_g"]) == pytest.approx(-0.25 + 2 * cls_g + 10 * 0.2, rel=1e-6)


def test_gradient_penalty_of_a_linear_critic_head() -> None:
    """D_src(x) = <w, x>: the gradient is w everywhere, so GP = (|w| - 1)^2 exactly."""
    w = torch.tensor([3.0, 0.0, 4.0, 0.0]).view(1, 1, 2, 2)

    def critic(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x * w).sum((1, 2, 3)), torch.zeros(x.shape[0], 2)

    penalty = gradient_penalty(lambda x: critic(x)[0], torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2))
    assert float(penalty) == pytest.approx((5.0 - 1.0) ** 2)


def test_n_critic_phases_and_targets() -> None:
    config = api.make_config("stargan", [*TINY, "translation.n_critic=5"], data="demo:digit-attributes")
    model = StarGAN(config.translation, "wasserstein", 0)
    assert [model.phases(s) for s in range(1, 11)] == [("d",)] * 4 + [("d", "g")] + [("d",)] * 4 + [("d", "g")]
    labels = torch.tensor([[1.0, 0.0, 1.0]])
    assert [t.tolist() for t in flipped_targets(labels)] == [[[0, 0, 1]], [[1, 1, 1]], [[1, 0, 0]]]
    assert target_label(["thick", "inverted", "red"], "red, thick").tolist() == [1, 0, 1]
    with pytest.raises(GanforgeError, match="unknown attribute 'blue'; this run's attributes: thick"):
        target_label(["thick", "inverted", "red"], "blue")


def test_attribute_scores_on_hand_made_logits() -> None:
    logits = torch.tensor([[2.0, -1.0], [1.0, 1.0], [-3.0, 0.5]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    flipped = torch.tensor([0, 0, 1])
    scores = attribute_scores(logits, targets, flipped)
    assert scores["attribute_accuracy"] == pytest.approx(4 / 6)
    assert scores["attribute_flip_accuracy"] == pytest.approx(1 / 3)  # row 0 right, rows 1, 2 wrong


# ---- data ------------------------------------------------------------------------------------
def test_demo_renders_its_attributes_visibly() -> None:
    digits, _ = demos.digits_at(32)
    digits = digits[:4]
    plain = demos.with_attributes(digits, torch.zeros(4, 3)).float()
    assert torch.equal(plain[:, 0], plain[:, 1])  # white ink: grey
    red = demos.with_attributes(digits, torch.tensor([[0.0, 0.0, 1.0]] * 4)).float()
    assert (red[:, 0].sum() > 2 * red[:, 1].sum())
    inverted = demos.with_attributes(digits, torch.tensor([[0.0, 1.0, 0.0]] * 4)).float()
    assert inverted.mean() > 128 > plain.mean()
    thick = demos.with_attributes(digits, torch.tensor([[1.0, 0.0, 0.0]] * 4)).float()
    assert thick.mean() > 1.2 * plain.mean()


def _faces(root: Path, names: list[str]) -> None:
    gen = np.random.default_rng(0)
    for name in names:
        Image.fromarray(gen.integers(0, 255, (22, 18, 3), dtype=np.uint8)).save(root / name)


def test_celeba_listing_reader(tmp_path: Path) -> None:
    (tmp_path / "img_align_celeba").mkdir()
    names = [f"{i:06d}.jpg" for i in range(1, 6)]
    _faces(tmp_path / "img_align_celeba", names)
    rows = [f"{n} {' '.join(['1', '-1', '1'] if i % 2 else ['-1', '1', '-1'])}" for i, n in enumerate(names)]
    (tmp_path / "list_attr_celeba.txt").write_text("5\nBlack_Hair Male Young\n" + "\n".join(rows) + "\n")
    config = api.make_config("stargan", [*TINY, "translation.attributes=[Young,Black_Hair]"],
                             data=f"celeba:{tmp_path}")
    data = load_translation_data(config.data.source, config.translation)
    assert data.attributes == ("Young", "Black_Hair")
    assert len(data.train_a) + len(data.test_a) == 5 and len(data.test_a) == 4  # min(1999, N - 1)
    assert data.train_a.shape[1:] == (3, 16, 16) and set(data.train_attrs.flatten().tolist()) <= {0.0, 1.0}
    bad = api.make_config("stargan", [*TINY, "translation.attributes=[Blond_Hair]"], data=f"celeba:{tmp_path}")
    with pytest.raises(GanforgeError, match="'Blond_Hair' is not an attribute of .*available: Black_Hair, Male, Young"):
        load_translation_data(bad.data.source, bad.translation)


def test_attribute_csv_reader(tmp_path: Path) -> None:
    _faces(tmp_path, ["a.png", "b.png", "c.png"])
    csv = tmp_path / "attrs.csv"
    csv.write_text("file,smile,glasses,split\na.png,1,0,train\nb.png,0,yes,train\nc.png,-1,no,test\n")
    config = api.make_config("stargan", [*TINY, "translation.attributes=[]"], data=f"attributes:{csv}")
    config, data = load_task_data(config)
    assert config.translation.attributes == ["smile", "glasses"]  # [] = all, written into the config
    assert data.train_attrs.tolist() == [[1.0, 0.0], [0.0, 1.0]] and data.test_attrs.tolist() == [[0.0, 0.0]]
    csv.write_text("file,smile,glasses\na.png,maybe,1\n")
    with pytest.raises(GanforgeError, match=r"attrs.csv:2: attribute value 'maybe'"):
        load_translation_data(config.data.source, config.translation)


# ---- training, resume, translate -------------------------------------------------------------
def test_demo_trains_and_resumes_exactly(tmp_path: Path) -> None:
    config, data = load_task_data(api.make_config("stargan", [*TINY, "translation.features=none"]))
    straight = make_loop(config, data, RunDir(tmp_path / "straight"))
    straight.fit(progress=False)
    assert straight.step == 4
    rows = train_rows(tmp_path / "straight")
    assert "loss_g_rec" in rows[1] and "loss_g_rec" not in rows[0]  # G steps every n_critic=2
    first = make_loop(config, data, RunDir(tmp_path / "resumed"))
    first.fit(progress=False, stop=StopAfter(first, 2))
    assert first.step == 2
    torch.manual_seed(999)  # what happens in between must not matter
    second = make_loop(config, data, RunDir(tmp_path / "resumed"))
    _, state, _ = load_latest_checkpoint(RunDir(tmp_path / "resumed").checkpoints)
    second.load_state_dict(state)
    second.fit(progress=False)
    for name, net in straight.task.model.networks.items():
        other = second.task.model.networks[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in net.state_dict().items()), name
    assert train_rows(tmp_path / "straight") == train_rows(tmp_path / "resumed")


def test_translate_to_attributes_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    args = ["train", "--recipe", "stargan", "--out", str(run), *TINY, "translation.eval_n=16",
            "translation.features=digit_attributes", "--no-progress"]
    assert main(args) == 0
    evaluation = [r for r in read_metrics(run) if r["kind"] == "eval"][-1]
    for key in ("attribute_accuracy_AtoB", "attribute_flip_accuracy_AtoB", "fid_AtoB",
                "reconstruction_l1_AtoB"):
        assert key in evaluation, key
    image = tmp_path / "seven.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image)
    out = tmp_path / "out"
    assert main(["translate", str(run), str(image), "--to", "thick,red", "--out", str(out)]) == 0
    assert np.asarray(Image.open(out / "seven.png")).shape == (16, 16, 3)
    capsys.readouterr()
    for extra, message in (
        (["--to", "thick,blue"], "--to: unknown attribute 'blue'; this run's attributes: thick, inverted, red"),
        ([], "this StarGAN run needs --to ATTR[,ATTR...]"),
        (["--to", "red", "--n", "3"], "--n draws BicycleGAN's latent codes; this is a stargan run"),
    ):
        assert main(["translate", str(run), str(image), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and message in err, err


def test_shipped_attribute_classifier_reproduces_its_held_out_accuracy() -> None:
    from ganforge.metrics.classifiers import load_classifier, read_metadata
    from ganforge.metrics.train_attribute_classifier import all_domains, predict

    judge = load_classifier("digit_attributes")
    meta = read_metadata("digit_attributes")
    assert judge.multi_label and judge.in_channels == 3 and judge.class_names == list(demos.ATTRIBUTES)
    digits, _ = demos.digits_at(32)
    images, attrs = all_domains(digits[demos.split()[1]])
    accuracy = float((predict(judge, images) == attrs).float().mean())
    assert accuracy == pytest.approx(meta["held_out_accuracy"], abs=1e-6) and accuracy > 0.98
