"""InstaGAN on the translation task: the set networks (order-invariant mask aggregation, 0..N
instances), the context-preserving loss on hand-made tensors, sequential mini-batches against a
single pass where they must agree, the instances:DIR reader's one-line errors, two demo steps
that resume exactly, and `ganforge translate --masks`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.metrics.translation_instances import context_change, instance_crops, outside
from ganforge.models.instagan import InstaDiscriminator, InstaGenerator, InstaTranslator
from ganforge.models.instagan_sequence import translate_sequentially
from ganforge.training.checkpoint import load_latest_checkpoint
from ganforge.training.launch import load_task_data, make_loop
from ganforge.training.run_dir import RunDir, read_metrics
from ganforge.training.tasks.translation import check_data
from ganforge.translation.data import TranslationData, load_translation_data
from ganforge.translation.instagan_losses import context_loss, context_weight, select_masks, union
from ganforge.translation.models import build_model
from resume_support import StopAfter, train_rows

TINY = [
    "translation.ngf=4",
    "translation.ndf=4",
    "translation.generator=resnet_1blocks",
    "translation.n_layers_d=2",
    "translation.load_size=16",
    "translation.crop_size=16",
    "translation.eval_n=8",
    "translation.eval_every=0",
    "translation.steps_per_epoch=2",
    "translation.epochs=1",
    "translation.epochs_decay=1",
    "translation.pool_size=2",
    "train.batch_size=2",
    "train.device=cpu",
    "train.log_every=1",
    "train.sample_every=2",
    "train.checkpoint_every=100",
    "monitor.plot=false",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _masks(n: int, k: int, side: int = 16, seed: int = 0) -> torch.Tensor:
    """k square masks of distinct sizes per image in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    masks = -torch.ones(n, k, side, side)
    for i in range(n):
        for j in range(k):
            h = 3 + j
            top, left = (int(torch.randint(0, side - h, (), generator=gen)) for _ in range(2))
            masks[i, j, top : top + h, left : left + h] = 1.0
    return masks


def _nets() -> tuple[InstaGenerator, InstaDiscriminator]:
    torch.manual_seed(0)
    return InstaGenerator(1, 1, 1, 4).eval(), InstaDiscriminator(1, 4, 2).eval()


# ---- the set networks ------------------------------------------------------------------------
def test_mask_aggregation_is_order_invariant() -> None:
    g, d = _nets()
    image = torch.rand(2, 1, 16, 16) * 2 - 1
    masks = _masks(2, 3)
    perm = torch.tensor([2, 0, 1])
    with torch.no_grad():
        out, out_perm = g(torch.cat([image, masks], 1)), g(torch.cat([image, masks[:, perm]], 1))
        assert torch.allclose(out[:, :1], out_perm[:, :1], atol=1e-5)  # the image: the same
        assert torch.allclose(out[:, 1:][:, perm], out_perm[:, 1:], atol=1e-5)  # masks follow
        assert torch.allclose(d(torch.cat([image, masks], 1)), d(torch.cat([image, masks[:, perm]], 1)), atol=1e-5)


def test_zero_to_n_instances_and_absent_slots() -> None:
    g, d = _nets()
    image = torch.rand(2, 1, 16, 16) * 2 - 1
    masks = _masks(2, 2)
    absent = -torch.ones(2, 1, 16, 16)
    with torch.no_grad():
        for k in range(0, 3):
            x = torch.cat([image, masks[:, :k]], 1)
            assert g(x).shape == (2, 1 + k, 16, 16) and d(x).shape[:2] == (2, 1)
        # an absent instance adds nothing and is passed through unchanged
        with_absent = g(torch.cat([image, masks, absent], 1))
        plain = g(torch.cat([image, masks], 1))
        assert torch.allclose(with_absent[:, :3], plain, atol=1e-6)
        assert torch.equal(with_absent[:, 3:], absent)
        # no instance at all: the empty sum, the same as no mask channel
        assert torch.allclose(g(torch.cat([image, absent, absent], 1))[:, :1], g(image)[:, :1], atol=1e-6)
        # each image sums its own masks: image 0's output does not depend on image 1's masks
        other = masks.clone()
        other[1] = _masks(1, 2, seed=7)[0]
        assert torch.allclose(g(torch.cat([image, other], 1))[0], plain[0], atol=1e-6)


def test_paper_sizes_match_the_authors() -> None:
    # sangwoomo/instagan define_G/define_D(netG=set, netD=set) at their defaults; the recipe
    # builds these (benchmarks/instagan.py counts the recipe's networks beside the authors')
    with torch.device("meta"):
        g = InstaGenerator(3, 3, 9, 64, "instance", False)
    d = InstaDiscriminator(3, 64, 3, "instance")
    assert sum(p.numel() for p in g.parameters()) == 26_815_108
    assert sum(p.numel() for p in d.parameters()) == 9_721_729
    # the authors count their spectral-norm vectors u, v as parameters too
    vectors = sum(b.numel() for n, b in d.named_buffers() if n.endswith(("_u", "_v")))
    assert sum(p.numel() for p in d.parameters()) + vectors == 9_754_434


# ---- losses ----------------------------------------------------------------------------------
def test_context_preserving_loss_on_hand_made_tensors() -> None:
    source = torch.full((1, 1, 4, 4), -1.0)
    source[0, 0, :2, :2] = 1.0  # the instance: the top-left 2x2
    translated = torch.full((1, 1, 4, 4), -1.0)
    translated[0, 0, 3, 3] = 1.0  # the translated instance: the bottom-right pixel
    weight = context_weight(source, translated)
    expected = torch.ones(1, 1, 4, 4)
    expected[0, 0, :2, :2] = 0
    expected[0, 0, 3, 3] = 0
    assert torch.equal(weight, expected)
    x = torch.zeros(1, 2, 4, 4)
    y = torch.zeros(1, 2, 4, 4)
    y[0, 0, 0, 0] = 5.0  # inside the mask: free
    y[0, 1, 3, 3] = 7.0  # inside the translated mask: free
    y[0, 0, 2, 1] = 0.5  # outside: counted
    y[0, 1, 1, 3] = -0.25  # outside: counted
    assert context_loss(x, y, weight).item() == pytest.approx((0.5 + 0.25) / 32)
    # overlapping masks saturate at 1 (the union), half-on masks weigh 1/2
    assert torch.equal(union(torch.stack([source[0, 0], source[0, 0]])[None]), source)
    assert context_weight(torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), -1.0)).item() == 0.5
    # the metric counts the same pixels, binarised at 0
    keep = outside(source, translated)
    assert context_change(x, y, keep) == pytest.approx((0.5 + 0.25) / (2 * 11))


def test_mask_selection_largest_first_padded() -> None:
    masks = _masks(1, 3)[:, [1, 2, 0]]  # areas 16, 25, 9
    chosen = select_masks(masks, 4)
    assert torch.equal(chosen[:, 0], masks[:, 1]) and torch.equal(chosen[:, 2], masks[:, 2])
    assert torch.equal(chosen[:, 3], -torch.ones(1, 16, 16))
    assert torch.equal(select_masks(masks, 2), chosen[:, :2])
    torch.manual_seed(0)
    shuffled = select_masks(torch.cat([masks, -torch.ones(1, 1, 16, 16)], 1), 4, "random")
    assert sorted(shuffled[0, :3].sum((1, 2)).tolist()) == sorted(chosen[0, :3].sum((1, 2)).tolist())
    assert torch.equal(shuffled[0, 3], -torch.ones(16, 16))  # absent ones stay last


# ---- sequential mini-batches -----------------------------------------------------------------
def test_sequential_translation_is_one_pass_when_the_instances_fit() -> None:
    g, _ = _nets()
    x = torch.cat([torch.rand(2, 1, 16, 16) * 2 - 1, _masks(2, 3)], 1)
    with torch.no_grad():
        whole = g.single(x[:, [0, 3, 2, 1]])  # largest first, as the sequence orders them
        seq = translate_sequentially(g, x, per_pass=3)
        assert torch.allclose(seq[:, 0], whole[:, 0], atol=1e-6)
        assert torch.allclose(seq[:, 1:], whole[:, 1:].flip(1), atol=1e-6)  # back in input order
        # two passes: the second starts from the first pass's image
        two = translate_sequentially(g, x, per_pass=2)
        first = g.single(x[:, [0, 3, 2]])
        second = g.single(torch.cat([first[:, :1], x[:, 1:2]], 1))
        assert torch.allclose(two[:, 0], second[:, 0], atol=1e-6)
        assert torch.allclose(two[:, 1], second[:, 1], atol=1e-6)


def _method(ins_max: int, ins_per: int) -> tuple[object, object]:
    config = api.make_config("instagan", [*TINY, f"translation.ins_max={ins_max}",
                                          f"translation.ins_per={ins_per}", "translation.pool_size=0"],
                             data="demo:digit-instances")
    torch.manual_seed(0)
    return build_model(config), config


def test_sequential_step_equals_the_full_batch_where_it_should() -> None:
    real_a = torch.cat([torch.rand(2, 1, 16, 16) * 2 - 1, _masks(2, 2)], 1)
    real_b = torch.cat([torch.rand(2, 1, 16, 16) * 2 - 1, _masks(2, 2, seed=1)], 1)
    parts = []
    for ins_per in (4, 2):  # two instances: one pass either way
        model, _ = _method(4, ins_per)
        out = model.forward(real_a, real_b)
        assert model.phases(1) == ("g", "d")
        _, g_parts = model.loss("g", out)
        _, d_parts = model.loss("d", out)
        parts.append({k: v.item() for k, v in {**g_parts, **d_parts}.items()})
    wide, narrow = parts
    assert sorted(wide) == sorted(narrow)
    for key in wide:
        if key.startswith(("loss_cycle", "loss_idt")):
            # L1 means over image + mask channels; the 2 absent slots add zero error
            assert wide[key] * (1 + 4) == pytest.approx(narrow[key] * (1 + 2), rel=1e-5), key
        else:  # GAN (D sees all ins_max slots either way), context, D
            assert wide[key] == pytest.approx(narrow[key], rel=1e-5), key
    # three instances, two per pass: two passes, the second from the first's detached output
    model, _ = _method(4, 2)
    three_a = torch.cat([real_a[:, :1], _masks(2, 3)], 1)
    out = model.forward(three_a, real_b)
    assert model.phases(1) == ("g", "d", "g", "d")
    model.loss("g", out)
    first_fake = out.a.fake[:, :1].detach().clone()
    model.loss("d", out)
    _, parts = model.loss("g", out)
    assert torch.equal(out.a.image, first_fake) and not out.a.image.requires_grad
    assert "loss_cycle_a" in parts and "loss_cycle_b" not in parts  # B has no instance left
    assert out.a.fake_mul.shape[1] == 1 + 4  # image + 2 earlier + 1 present + 1 empty slot
    # the pass's loss by hand: GAN + cycle + identity + context, lambda 10
    with torch.no_grad():
        x, fake = out.a.x, out.a.fake
        gan = ((model.D_B(out.a.fake_mul) - 1) ** 2).mean()
        cycle = 10 * (model.G_BA(fake) - x).abs().mean()
        identity = 10 * (model.G_BA(x) - x).abs().mean()
        weight = context_weight(x[:, 1:], fake[:, 1:])
        context = 10 * (weight * (x[:, :1] - fake[:, :1]).abs()).mean()
    for key, value in (("loss_g_gan_ab", gan), ("loss_cycle_a", cycle), ("loss_idt_a", identity),
                       ("loss_ctx_a", context)):
        assert parts[key].item() == pytest.approx(value.item(), rel=1e-5), key


# ---- data ------------------------------------------------------------------------------------
def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _instance_folder(root: Path, side: int = 16) -> Path:
    for domain in ("A", "B"):
        for name in ("0", "1"):
            _save(root / f"train{domain}" / f"{name}.png", np.full((side, side), 40, np.uint8))
            mask = np.zeros((side, side), np.uint8)
            mask[2:8, 2:8] = 255
            _save(root / f"train{domain}_seg" / f"{name}_0.png", mask)
        _save(root / f"train{domain}_seg" / "1_2.png", np.full((side, side), 255, np.uint8))
    return root


def test_instance_folder_reader(tmp_path: Path) -> None:
    root = _instance_folder(tmp_path / "data")
    config = api.make_config("instagan", [*TINY, "translation.channels_a=1", "translation.channels_b=1"],
                             data=f"instances:{root}")
    data = load_translation_data(config.data.source, config.translation)
    assert data.instances == 3 and data.train_a.shape == (2, 4, 16, 16)
    assert data.train_a[0, 1, 3, 3] == 255 and data.train_a[0, 2:].max() == 0  # one instance
    assert data.train_a[1, 2].max() == 0 and data.train_a[1, 3].min() == 255  # slots 0 and 2


@pytest.mark.parametrize("break_it, message", [
    (lambda r: __import__("shutil").rmtree(r / "trainB_seg"), "has trainB/ but no trainB_seg/ folder"),
    (lambda r: (r / "trainA_seg" / "0_0.png").unlink(), "0.png has no instance masks; expected"),
    (lambda r: _save(r / "trainA_seg" / "0_1.png", np.zeros((12, 16), np.uint8)),
     "0_1.png is 16x12 but its image"),
    (lambda r: _save(r / "trainA_seg" / "0_x.png", np.zeros((16, 16), np.uint8)),
     "a mask file is named <image name>_<k>"),
    (lambda r: _save(r / "trainA_seg" / "0_20.png", np.zeros((16, 16), np.uint8)),
     "is instance 20, but translation.max_instances=20"),
    (lambda r: (r / "testA").mkdir(), "has testA/ but no testB/"),
])
def test_instance_reader_errors(tmp_path: Path, break_it: object, message: str) -> None:
    root = _instance_folder(tmp_path / "data")
    break_it(root)
    config = api.make_config("instagan", [*TINY, "translation.channels_a=1", "translation.channels_b=1"],
                             data=f"instances:{root}")
    with pytest.raises(GanforgeError, match=None) as info:
        load_translation_data(config.data.source, config.translation)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_instagan_needs_instance_data() -> None:
    config = api.make_config("instagan", TINY, data="unpaired:unused")
    images = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
    with pytest.raises(GanforgeError, match="trains on images with instance masks"):
        check_data(config, TranslationData(images, images, False, None, None, False, "unpaired:x"))


# ---- training, resume, translate -------------------------------------------------------------
def test_demo_trains_and_resumes_exactly(tmp_path: Path) -> None:
    config, data = load_task_data(api.make_config("instagan", [*TINY, "translation.features=none",
                                                               "translation.steps=2", "train.sample_every=100"]))
    straight = make_loop(config, data, RunDir(tmp_path / "straight"))
    straight.fit(progress=False)
    assert straight.step == 2
    first = make_loop(config, data, RunDir(tmp_path / "resumed"))
    first.fit(progress=False, stop=StopAfter(first, 1))
    assert first.step == 1
    torch.manual_seed(999)  # what happens in between must not matter
    second = make_loop(config, data, RunDir(tmp_path / "resumed"))
    _, state, _ = load_latest_checkpoint(RunDir(tmp_path / "resumed").checkpoints)
    second.load_state_dict(state)
    second.fit(progress=False)
    for name, net in straight.task.model.networks.items():
        other = second.task.model.networks[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in net.state_dict().items()), name
    rows = train_rows(tmp_path / "straight")
    assert rows == train_rows(tmp_path / "resumed")
    assert {"loss_ctx_a", "loss_cycle_a", "loss_idt_a", "loss_g_gan_ab"} <= set(rows[0])


def test_translate_with_masks_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(["train", "--recipe", "instagan", "--out", str(run), *TINY, "--no-progress"]) == 0
    evaluation = [r for r in read_metrics(run) if r["kind"] == "eval"][-1]
    for key in ("context_l1_AtoB", "context_l1_BtoA", "fid_AtoB", "instance_accuracy_AtoB"):
        assert key in evaluation, key
    image = tmp_path / "in" / "three.png"
    _save(image, np.full((20, 20), 30, np.uint8))
    mask = np.zeros((20, 20), np.uint8)
    mask[4:12, 4:12] = 255
    _save(tmp_path / "masks" / "three_0.png", mask)
    _save(tmp_path / "masks" / "three_2.png", mask[::-1].copy())
    out = tmp_path / "out"
    assert main(["translate", str(run), str(image), "--masks", str(tmp_path / "masks"), "--out", str(out)]) == 0
    assert np.asarray(Image.open(out / "three.png")).shape == (16, 16)
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["three_0.png", "three_2.png"]
    capsys.readouterr()
    for extra, message in (
        ([], "this InstaGAN run needs --masks DIR"),
        (["--masks", str(tmp_path / "nowhere")], "is not a folder"),
        (["--masks", str(tmp_path / "in")], "a mask file is named <image name>_<k>"),
    ):
        assert main(["translate", str(run), str(image), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and message in err, err


def test_instance_crops_and_translator_loads_the_generator() -> None:
    images = torch.zeros(1, 1, 16, 16)
    masks = -torch.ones(1, 2, 16, 16)
    masks[0, 1, 4:8, 6:8] = 1
    crops = instance_crops(images, masks)
    assert crops.shape == (1, 1, 32, 32)
    g, _ = _nets()
    t = InstaTranslator(1, 1, 1, 4)
    t.load_state_dict(g.state_dict())
    x = torch.cat([torch.rand(1, 1, 16, 16), _masks(1, 3)], 1)
    with torch.no_grad():
        assert torch.equal(t.eval()(x), translate_sequentially(g, x, 2))
