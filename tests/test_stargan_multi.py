"""StarGAN on several datasets with different label sets (the paper's mask vector, section 3.2):
the label + mask layout, the classification loss over the known dataset only (exact, hand-made
tensors), batches alternating between datasets, the combined readers, 2 steps + exact resume,
`--to` across datasets, and the one-line errors."""

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
from ganforge.training.launch import load_task_data
from ganforge.training.run_dir import read_metrics
from ganforge.translation import attribute_sets
from ganforge.translation.attribute_sets import (
    MultiAttributeStream,
    dataset_of,
    known_attributes,
    split_spec,
    with_mask,
)
from ganforge.translation.conditions import target_label
from ganforge.translation.data import load_translation_data
from ganforge.translation.stargan import StarGAN
from ganforge.translation.stargan_losses import domain_classification_loss, stargan_d_loss
from resume_support import straight_and_resumed, train_rows

DEMO = "demo:digit-strokes+demo:digit-colours"
TINY = [
    "translation.ngf=4", "translation.ndf=4", "translation.generator=resnet_1blocks",
    "translation.n_layers_d=3", "translation.load_size=16", "translation.crop_size=16",
    "translation.n_critic=2", "translation.eval_n=0", "translation.eval_every=0",
    "translation.steps_per_epoch=2", "translation.epochs=1", "translation.epochs_decay=1",
    "translation.features=none", "train.batch_size=4", "train.device=cpu", "train.log_every=1",
    "train.sample_every=2", "train.checkpoint_every=1", "monitor.plot=false",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# ---- label + mask ------------------------------------------------------------------------------
def test_label_and_mask_layout() -> None:
    sets = (2, 3)  # e.g. CelebA's [Black_Hair, Male] and a second set [happy, sad, angry]
    first = with_mask(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), 0, sets)
    second = with_mask(torch.tensor([[0.0, 1.0, 0.0]]), 1, sets)
    assert first.tolist() == [[1, 0, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1, 0]]  # unknown part zero
    assert second.tolist() == [[0, 0, 0, 1, 0, 0, 1]]
    both = torch.cat([first, second])
    assert dataset_of(both, sets).tolist() == [0, 0, 1]
    assert known_attributes(both, sets).tolist() == [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1]]
    names = ["Black_Hair", "Male", "happy", "sad", "angry"]
    assert target_label(names, "sad", sets).tolist() == [0, 0, 0, 1, 0, 0, 1]
    assert target_label(names, "Male", sets).tolist() == [0, 1, 0, 0, 0, 1, 0]
    assert target_label(names, "Male", ()).tolist() == [0, 1, 0, 0, 0]  # one dataset: no mask
    with pytest.raises(GanforgeError, match="--to names attributes of 2 datasets; .*dataset 1: Black_Hair, Male"):
        target_label(names, "Male,happy", sets)
    # the grid's targets: own images flip their attribute, the other dataset's are asked for it on
    targets = attribute_sets.flipped_targets(both, sets)
    assert targets[1].tolist() == [[1, 1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1, 0]]
    assert targets[4].tolist() == [[0, 0, 0, 0, 1, 0, 1], [0, 0, 0, 0, 1, 0, 1], [0, 0, 0, 1, 1, 0, 1]]
    assert split_spec("celeba:/d/a+b+attributes:/x+y.csv") == ["celeba:/d/a+b", "attributes:/x+y.csv"]


def test_classification_loss_ignores_the_other_datasets_attributes() -> None:
    logits = torch.tensor([[2.0, -1.0, 5.0], [0.5, 3.0, -4.0]])
    target = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    known = known_attributes(torch.cat([with_mask(target[:1, :2], 0, (2, 1)),
                                        with_mask(target[1:, 2:], 1, (2, 1))]), (2, 1))
    expected = (bce(2.0, 1) + bce(-1.0, 0) + bce(-4.0, 1)) / 2  # the 5.0, 0.5, 3.0 logits do not count
    assert float(domain_classification_loss(logits, target, known)) == pytest.approx(expected, rel=1e-6)
    moved = logits.clone()
    moved[0, 2], moved[1, :2] = -9.0, torch.tensor([7.0, 7.0])  # the unknown logits change nothing
    assert float(domain_classification_loss(moved, target, known)) == pytest.approx(expected, rel=1e-6)
    full = (bce(2.0, 1) + bce(-1.0, 0) + bce(5.0, 0) + bce(0.5, 0) + bce(3.0, 0) + bce(-4.0, 1)) / 2
    assert float(domain_classification_loss(logits, target)) == pytest.approx(full, rel=1e-6)
    src = torch.zeros(2, 1, 1, 1)
    parts = stargan_d_loss(src, logits, src, torch.tensor(0.0), target, 1.0, 10.0, known)
    assert float(parts["loss_d_cls"]) == pytest.approx(expected, rel=1e-6)
    scores = attribute_scores(torch.tensor([[1.0, -1.0, 1.0], [1.0, 1.0, 1.0]]), target,
                              torch.tensor([0, 2]), known)
    assert scores["attribute_accuracy"] == pytest.approx(1.0)  # only known attributes are scored


def test_the_model_takes_label_and_mask_and_masks_its_losses() -> None:
    config = api.make_config("stargan", [*TINY, "translation.attribute_sets=[2,1]"], data=DEMO)
    model = StarGAN(config.translation, "wasserstein", 0)
    assert model.G.c_dim == 3 + 2 and model.D.cls.out_channels == 3
    # two datasets: an iteration is one batch of each, G steps on both at every n_critic=2nd
    assert [model.phases(s) for s in range(1, 9)] == [("d",), ("d",), ("d", "g"), ("d", "g")] * 2
    torch.manual_seed(0)
    labels = with_mask(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), 0, (2, 1))
    out = model.forward(torch.rand(2, 3, 16, 16) * 2 - 1, labels)
    assert out["fake"].shape == (2, 3, 16, 16) and torch.equal(out["trg"][:, 3:], labels[:, 3:])
    _, parts = model.loss("d", out)
    _, cls = model.D(out["real"])
    expected = domain_classification_loss(cls, labels[:, :3], known_attributes(labels, (2, 1)))
    assert float(parts["loss_d_cls"]) == pytest.approx(float(expected), rel=1e-6)


def test_batches_alternate_between_datasets() -> None:
    images = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 3, 4, 4).contiguous()
    labels = torch.cat([with_mask(torch.ones(4, 2), 0, (2, 1)), with_mask(torch.zeros(2, 1), 1, (2, 1))])
    stream = MultiAttributeStream(images, labels, (2, 1), 2, 4, False, 0, accumulate=2)
    drawn = [dataset_of(stream.next()[1], (2, 1)).tolist() for _ in range(6)]
    assert drawn == [[0, 0], [0, 0], [1, 1], [1, 1], [0, 0], [0, 0]]  # a step's micro-batches share one
    state = stream.state_dict()
    after = [stream.next()[0] for _ in range(3)]
    again = MultiAttributeStream(images, labels, (2, 1), 2, 4, False, 0, accumulate=2)
    again.load_state_dict(state)
    assert all(torch.equal(a, again.next()[0]) for a in after)


# ---- data --------------------------------------------------------------------------------------
def test_demo_datasets_and_a_csv_combine(tmp_path: Path) -> None:
    config = api.make_config("stargan", [*TINY, "translation.attributes=[]"], data=DEMO)
    config, data = load_task_data(config)
    assert config.translation.attributes == ["thick", "inverted", "red"]
    assert config.translation.attribute_sets == [2, 1]
    assert data.train_attrs.shape == (1497, 5) and data.test_attrs.shape == (300, 5)
    assert dataset_of(data.train_attrs, (2, 1)).bincount().tolist() == [748, 749]
    assert float(data.train_attrs[748:, :2].abs().sum()) == 0  # dataset 2 knows no stroke label
    gen = np.random.default_rng(0)
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(gen.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / name)
    csv = tmp_path / "moods.csv"
    csv.write_text("file,happy,sad,split\na.png,1,0,train\nb.png,0,1,train\nc.png,0,0,test\n")
    both = api.make_config("stargan", [*TINY, "translation.attributes=[sad,red]"],
                           data=f"demo:digit-colours+attributes:{csv}")
    both, data = load_task_data(both)
    assert both.translation.attributes == ["red", "sad"] and both.translation.attribute_sets == [1, 1]
    assert data.train_attrs[-2:].tolist() == [[0, 0, 0, 1], [0, 1, 0, 1]]


@pytest.mark.parametrize(("attributes", "data", "message"), [
    ("[]", "demo:digit-attributes+demo:digit-colours",
     "attribute 'red' is in both demo:digit-attributes and demo:digit-colours; the datasets' label sets must differ"),
    ("[blue]", DEMO, "translation.attributes: 'blue' is in none of the datasets of demo:digit-strokes"),
    ("[thick]", DEMO, "translation.attributes keeps none of demo:digit-colours's attributes (red)"),
    ("[]", "demo:digit-strokes+demo:digits2thick", "'demo:digits2thick' has no attribute labels"),
    ("[]", "demo:digit-strokes+unpaired:/x", "'unpaired:/x' is not attribute data; each dataset"),
])
def test_mismatches_are_one_line_errors(attributes: str, data: str, message: str) -> None:
    config = api.make_config("stargan", [*TINY, f"translation.attributes={attributes}"], data=data)
    with pytest.raises(GanforgeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_translation_data(config.data.source, config.translation)


def test_attribute_sets_setting_errors() -> None:
    with pytest.raises(GanforgeError, match=r"attribute_sets=\[2, 2\] must give each dataset"):
        api.check_config("stargan", [*TINY, "translation.attribute_sets=[2,2]"], data=DEMO)
    one = api.make_config("stargan", [*TINY, "translation.attribute_sets=[1,2]"], data=DEMO)
    with pytest.raises(GanforgeError, match=r"attribute_sets=\[1, 2\] does not match demo:digit-strokes"):
        load_task_data(one)


# ---- training, resume, translate ---------------------------------------------------------------
def test_two_datasets_train_resume_exactly_and_translate(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    def args(out: Path, steps: int) -> list[str]:
        return ["train", "--recipe", "stargan", "--data", DEMO, "--out", str(out), "--steps", str(steps),
                "--no-progress", *TINY]

    straight, resumed = straight_and_resumed(tmp_path, args)
    rows = train_rows(straight)
    assert rows == train_rows(resumed)
    assert rows[0]["loss_d_cls"] != pytest.approx(rows[1]["loss_d_cls"], rel=0.2)  # 2 vs 1 known terms
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image)
    out = tmp_path / "out"
    for to in ("red", "thick,inverted"):
        assert main(["translate", str(straight), str(image), "--to", to, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["translate", str(straight), str(image), "--to", "thick,red", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--to names attributes of 2 datasets" in err


def test_evaluation_scores_each_image_on_its_own_attributes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--recipe", "stargan", "--data", DEMO, "--out", str(run), "--steps", "1",
                 "--no-progress", *TINY, "translation.features=digit_attributes",
                 "translation.eval_n=0"]) == 0
    evaluation = [r for r in read_metrics(run) if r["kind"] == "eval"][-1]
    assert evaluation["eval_n"] == 300
    for key in ("attribute_accuracy_AtoB", "attribute_flip_accuracy_AtoB", "reconstruction_l1_AtoB", "fid_AtoB"):
        assert key in evaluation, key
