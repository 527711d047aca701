"""Editing real images (issue 22): projection, directions, edits, their files and their errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from ganforge import api
from ganforge.editing import directions as find
from ganforge.editing.codes import LatentCode, class_vectors, decode, to_styles
from ganforge.editing.edit import class_transfer, parse_strengths, render, shift
from ganforge.editing.images import read_target
from ganforge.editing.noise import noise_regularization, normalize_noise
from ganforge.editing.perceptual import load_vgg, lpips_distance
from ganforge.editing.project import ProjectSettings, learning_rate, project
from ganforge.editing.store import load_code, save_code
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators import PretrainedGenerator
from ganforge.models import build_models

FIXTURES = Path(__file__).parent / "fixtures" / "release_0_1"
STYLE = ["model.channel_base=256", "model.channel_max=32", "model.w_dim=32", "model.dim_z=16",
         "model.d_mapping_layers=1", "model.resolution=16"]
BIGGAN = ["model.ch=4", "model.resolution=16", "model.g_channels=[4,2,1]", "model.d_channels=[1,2,4]",
          "model.d_downsample=[true,true,false]",
          "model.g_spectral_norm=false", "model.dim_z=24", "model.shared_dim=8", "model.g_attention=[]",
          "model.d_attention=[]"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def tiny_stylegan(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    config = api.make_config("stylegan2-digits", STYLE)
    net, _ = build_models(config.model)
    return Generator(net, [str(i) for i in range(10)], config=config)


def tiny_biggan(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    config = api.make_config("biggan-digits", BIGGAN)
    net, _ = build_models(config.model)
    return Generator(net, [str(i) for i in range(10)], config=config)


# ---- projection ---------------------------------------------------------------------------------
def test_projection_in_w_recovers_the_latent_of_a_generated_image() -> None:
    config = api.make_config("stylegan2-digits", ["model.channel_base=128", "model.channel_max=16",
                             "model.w_dim=16", "model.dim_z=8", "model.resolution=8"])
    torch.manual_seed(0)
    g = Generator(build_models(config.model)[0], [str(i) for i in range(10)], config=config)
    z = torch.randn(1, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        w_true = to_styles(g, LatentCode("z", z, class_vectors(g, torch.tensor([3]))))[:, 0]
        target = decode(g, LatentCode("w", w_true))
    result = project(g, target, ProjectSettings(space="w", steps=100, lr=0.3, w_avg_samples=500))
    assert result.losses[-1]["mse"] < 0.002 * result.losses[0]["mse"]
    # it starts at the mean w (the official projector's w_avg) and ends next to the true w
    assert (result.code.latent - w_true).norm() < 0.1 * result.w_std
    assert set(result.code.noise) and all(v.shape[0] == 1 for v in result.code.noise.values())
    assert result.perceptual.startswith("none")


def test_projection_in_z_of_biggan_with_the_class_fixed_recovers_the_image() -> None:
    g = tiny_biggan()
    z = torch.randn(2, 24, generator=torch.Generator().manual_seed(1)).clamp(-1.5, 1.5)
    with torch.no_grad():
        target = decode(g, LatentCode("z", z, class_vectors(g, torch.tensor([4, 4]))))
    result = project(g, target, ProjectSettings(space="z", steps=60), class_id=4)
    assert result.losses[-1]["mse"] < 0.1 * result.losses[0]["mse"]
    assert torch.equal(result.code.classes.argmax(1), torch.tensor([4, 4]))


def test_free_class_is_a_distribution_over_classes() -> None:
    g = tiny_biggan()
    target = torch.zeros(1, 1, 16, 16)
    result = project(g, target, ProjectSettings(space="z", steps=3, free_class=True))
    assert result.code.classes.shape == (1, 10)
    assert torch.allclose(result.code.classes.sum(1), torch.ones(1))


def test_learning_rate_ramps_as_the_official_projector() -> None:
    s = ProjectSettings(steps=1000)
    assert learning_rate(0, s) == 0.0
    assert learning_rate(25, s) == pytest.approx(0.1 * 0.5)  # half way up the 5 % ramp
    assert learning_rate(500, s) == pytest.approx(0.1)
    assert learning_rate(875, s) == pytest.approx(0.1 * 0.5)  # half way down the cosine


def test_noise_regularisation_formula_on_hand_made_maps() -> None:
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0 - 1  # +-1 checkerboard
    # 16x16: each one-pixel shift correlates to -1 (1 per axis); pooled 2x2 it is all zeros
    assert float(noise_regularization([checker])) == pytest.approx(2.0)
    ones = torch.ones(16, 16)  # 16x16 and 8x8 both correlate to 1 per axis
    assert float(noise_regularization([ones])) == pytest.approx(4.0)
    both = torch.stack([checker, ones])[:, None]  # a batch: the images' penalties summed
    assert float(noise_regularization([both])) == pytest.approx(6.0)
    maps = [torch.randn(2, 1, 8, 8) * 3 + 1]
    normalize_noise(maps)
    assert torch.allclose(maps[0].mean((2, 3)), torch.zeros(2, 1), atol=1e-6)
    assert torch.allclose(maps[0].square().mean((2, 3)), torch.ones(2, 1), atol=1e-5)


# ---- directions ---------------------------------------------------------------------------------
def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm()


def test_pca_and_sefa_find_the_dominant_direction_of_biggans_first_layer() -> None:
    g = tiny_biggan()
    first = g.generator.linear
    chunk = first.weight.shape[1]
    v = _unit(torch.randn(chunk, generator=torch.Generator().manual_seed(2)))
    u = torch.randn(first.weight.shape[0], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        first.weight.copy_(20 * u[:, None] * v[None, :] + 0.01 * torch.randn_like(first.weight))
    sefa = find.sefa(g, k=2, n=200)
    assert abs(float(_unit(sefa.vectors[0][:chunk]) @ v)) > 0.999
    assert torch.equal(sefa.vectors[0][chunk:], torch.zeros(24 - chunk))  # the other chunks stay
    pca = find.pca(g, k=2, n=2000)
    assert abs(float(_unit(pca.vectors[0][:chunk]) @ v)) > 0.98
    # one std of z along a unit direction is 1
    assert float(sefa.vectors[0].norm()) == pytest.approx(1.0, abs=0.1)


def test_pca_of_w_and_sefa_of_the_affine_layers_find_a_planted_direction() -> None:
    g = tiny_stylegan()
    v = _unit(torch.randn(32, generator=torch.Generator().manual_seed(4)))
    last = g.generator.mapping.fc1
    with torch.no_grad():  # w varies (almost) only along v
        last.weight.copy_((50 * v[:, None] * torch.randn(1, 32) + 0.01 * torch.randn(32, 32)) / last.weight_gain)
        for name, m in g.generator.synthesis.named_modules():
            if name.endswith("affine"):
                rows = m.weight.shape[0]
                m.weight.copy_(torch.randn(rows, 1) * v[None, :] * 10 + 0.01 * torch.randn(rows, 32))
    pca = find.pca(g, k=3, n=1000)
    assert pca.space == "w" and pca.names == ["pc0", "pc1", "pc2"]
    assert abs(float(_unit(pca.vectors[0]) @ v)) > 0.99
    assert pca.info["explained_variance_ratio"][0] > 0.8
    sefa = find.sefa(g, k=1, n=100)
    assert abs(float(_unit(sefa.vectors[0]) @ v)) > 0.999
    assert find.sefa(g, k=1, layers="0:2", n=100).info["matrix"] == "2 style affine layers"


def test_svm_boundary_of_separable_toy_latents() -> None:
    g = tiny_biggan()
    rng = torch.Generator().manual_seed(0)
    normal = _unit(torch.randn(24, generator=rng))
    x = torch.randn(600, 24, generator=rng)
    side = (x @ normal) > 0
    x = x + (side.float() * 2 - 1)[:, None] * 0.5 * normal  # a margin of 1 between the sides
    labels = np.where(side.numpy(), "thick", "thin")
    found = find.svm(g, labels=labels, latents=x)
    assert found.names == ["thin"]  # two labels: one boundary, towards the second (sorted)
    assert float(_unit(found.vectors[0]) @ -normal) > 0.95
    assert found.info["boundaries"]["thin"]["held_out_accuracy"] == 1.0


def test_class_mean_directions_are_the_mean_differences() -> None:
    """`--method mean`: b's mean latent minus a's for each ordered pair ("a->b"), or b's minus the
    rest's; stored unscaled, so strength 1 carries a's mean exactly onto b's."""
    g = tiny_biggan()
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [4.0, 4.0], [6.0, 4.0], [9.0, 1.0], [11.0, 3.0], [5.0, 5.0]])
    labels = np.array(["a", "a", "b", "b", "c", "c", "lone"])
    pairs = find.mean_difference(g, labels=labels, latents=x, pairs=True)
    assert pairs.names == ["b->a", "c->a", "a->b", "c->b", "a->c", "b->c"]  # "lone" has one latent: skipped
    torch.testing.assert_close(pairs.vectors[pairs.names.index("a->b")], torch.tensor([4.0, 4.0]))
    torch.testing.assert_close(pairs.vectors[pairs.names.index("c->a")], torch.tensor([-9.0, -2.0]))
    rest = find.mean_difference(g, labels=labels, latents=x)
    assert rest.names == ["a", "b", "c"] and rest.info["counts"]["lone"] == 1
    others_of_b = x[[0, 1, 4, 5, 6]].mean(0)
    torch.testing.assert_close(rest.vectors[1], x[2:4].mean(0) - others_of_b)
    mean_a = x[:2].mean(0, keepdim=True)
    moved = shift(LatentCode("z", mean_a), pairs.vectors[pairs.names.index("a->b")], [1.0])
    torch.testing.assert_close(moved.latent[0], x[2:4].mean(0))
    with pytest.raises(GanforgeError, match="two labels with 2"):
        find.mean_difference(g, labels=np.array(["a", "a", "b"]), latents=x[:3])


# ---- edits --------------------------------------------------------------------------------------
def test_edit_strengths_are_applied_exactly() -> None:
    assert parse_strengths("-3:3:7") == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert parse_strengths("-2,0,2.5") == [-2.0, 0.0, 2.5]
    base = torch.randn(2, 8)
    d = torch.randn(8)
    edited = shift(LatentCode("z", base), d, [-1.5, 0.0, 2.0])
    expected = torch.stack([base[i] + s * d for i in range(2) for s in (-1.5, 0.0, 2.0)])
    assert torch.equal(edited.latent, expected)
    plus = torch.randn(1, 5, 8)
    only = shift(LatentCode("w+", plus), d, [2.0], layers="1:3").latent[0]
    assert torch.equal(only[1:3], plus[0, 1:3] + 2.0 * d)
    assert torch.equal(only[[0, 3, 4]], plus[0, [0, 3, 4]])
    with pytest.raises(GanforgeError, match="--strength"):
        parse_strengths("1:2")


def test_class_swap_in_some_biggan_blocks_is_applied_exactly() -> None:
    g = tiny_biggan()
    blocks = g.generator.blocks
    code = LatentCode("z", torch.randn(2, 24, generator=torch.Generator().manual_seed(2)),
                      class_vectors(g, torch.tensor([3, 3])))
    conds: list[torch.Tensor] = []
    hooks = [b.register_forward_hook(lambda m, a, o: conds.append(a[1])) for b in blocks]
    own, target = render(g, code), class_transfer(g, code, [7])
    mixed = class_transfer(g, code, [7], layers="1:2")
    for h in hooks:
        h.remove()
    # block 0 conditioned as the start (class 3), block 1 as the swap (class 7), both with the start's z
    assert torch.equal(conds[4], conds[0]) and torch.equal(conds[5], conds[3]) and not torch.equal(conds[0], conds[2])
    assert not torch.equal(mixed, own) and not torch.equal(mixed, target)
    assert torch.equal(class_transfer(g, code, [7], layers="0:2"), target)  # every block: the plain swap
    assert torch.equal(class_transfer(g, code, [3], layers="0:1"), own)  # the own class: nothing changes
    for bad, match in (("2:5", "selects no G block .*has 2"), ("0-1", "START:END .G block")):
        with pytest.raises(GanforgeError, match=match):
            class_transfer(g, code, [7], layers=bad)


def test_class_swap_in_some_stylegan_styles_is_applied_exactly() -> None:
    g = tiny_stylegan()
    net = g.generator
    code = LatentCode("z", torch.randn(2, 16, generator=torch.Generator().manual_seed(2)),
                      class_vectors(g, torch.tensor([1, 4])))
    seen: list[torch.Tensor] = []
    hook = net.synthesis.register_forward_hook(lambda m, a, o: seen.append(a[0]))
    mixed = class_transfer(g, code, [6], layers="0:3")
    hook.remove()
    with torch.no_grad():
        own = to_styles(g, code)
        swapped = to_styles(g, LatentCode("z", code.latent, class_vectors(g, torch.tensor([6, 6]))))
    assert torch.equal(seen[0][:, :3], swapped[:, :3]) and torch.equal(seen[0][:, 3:], own[:, 3:])
    assert not torch.equal(mixed, class_transfer(g, code, [6]))
    assert torch.equal(class_transfer(g, code, [6], layers=f"0:{net.num_ws}"), class_transfer(g, code, [6]))
    alone = code.select(0)
    assert torch.equal(class_transfer(g, alone, [1], layers="2:5"), render(g, alone))
    with pytest.raises(GanforgeError, match="selects no style layer"):
        class_transfer(g, code, [6], layers="3:3")


def test_python_api_round_trip_with_a_stylegan_export(tmp_path: Path) -> None:
    g = tiny_stylegan()
    export = PretrainedGenerator.of(g).save_pretrained(tmp_path / "gen")
    image = tmp_path / "digit.png"
    Image.fromarray((np.random.default_rng(0).random((20, 20, 3)) * 255).astype(np.uint8)).save(image)
    result = api.project(export, image, tmp_path / "proj", steps=4, w_avg_samples=100, gif=True)
    assert result["summary"]["perceptual"] == "classifier:digits"
    assert set(result["files"]) == {"latent", "reconstruction", "comparison", "loss", "gif"}
    found = api.directions(export, tmp_path / "d.safetensors", "pca", k=3, n=200)
    assert found["names"] == ["pc0", "pc1", "pc2"]
    out = api.edit(export, tmp_path / "proj" / "latent.safetensors", tmp_path / "e.png",
                   directions_file=tmp_path / "d.safetensors", direction="pc1", strength="-2:2:5")
    assert (out["rows"], out["columns"]) == (1, 5)
    assert Image.open(tmp_path / "e.png").size == (5 * 16 + 6 * 2, 16 + 4)
    kept = api.edit(export, tmp_path / "proj" / "latent.safetensors", tmp_path / "e.png",
                    directions_file=tmp_path / "d.safetensors", direction="pc1", strength="0,3", strokes=True)
    unchanged, moved = kept["stroke_changes"]
    assert all(v == pytest.approx(0, abs=1e-4) for v in unchanged.values())  # float round-off only
    assert moved["mass"] > 1e-3 and moved["slant"] > 1e-2


def test_a_latent_from_another_generator_is_refused(tmp_path: Path) -> None:
    g1, g2 = tiny_stylegan(0), tiny_stylegan(1)
    save_code(tmp_path / "l.safetensors", LatentCode("w", torch.zeros(1, 32)), g1)
    code, _ = load_code(tmp_path / "l.safetensors", g1)
    assert code.space == "w"
    with pytest.raises(GanforgeError, match="made with another generator"):
        load_code(tmp_path / "l.safetensors", g2)


def test_images_are_converted_and_bad_ones_refused(tmp_path: Path) -> None:
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(rgb)
    target = read_target(rgb, 16, 1)
    assert target.shape == (1, 1, 16, 16) and torch.allclose(target, torch.ones_like(target))
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((16, 20), np.uint8)).save(wide)
    with pytest.raises(GanforgeError, match="20x16; projection needs a square image"):
        read_target(wide, 16, 1)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(GanforgeError, match="cannot read the image"):
        read_target(text, 16, 1)
    with pytest.raises(GanforgeError, match="resolution"):
        project(tiny_stylegan(), torch.zeros(1, 1, 8, 8), ProjectSettings(steps=1))
    with pytest.raises(GanforgeError, match="StyleGAN2's"):
        project(tiny_biggan(), torch.zeros(1, 1, 16, 16), ProjectSettings(space="w+", steps=1))


def test_vgg_weights_in_torchvision_layout(tmp_path: Path) -> None:
    torch.manual_seed(0)
    from ganforge.editing.perceptual import VGGFeatures

    state = {f"features.{k}": v for k, v in VGGFeatures(16).features.state_dict().items()}
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    vgg = load_vgg(tmp_path / "vgg16.safetensors")
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    feats = vgg(x)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512]
    assert torch.equal(lpips_distance(feats, feats), torch.zeros(2))
    assert (lpips_distance(feats, vgg(-x)) > 0).all()
    save_file({k: v for k, v in state.items() if int(k.split(".")[1]) < 10}, str(tmp_path / "half.safetensors"))
    with pytest.raises(GanforgeError, match="VGG16 has 13"):
        load_vgg(tmp_path / "half.safetensors")


def test_lpips_learned_weights_over_alexnet(tmp_path: Path) -> None:
    """The lpips package's lin0..lin4 weights (here a tiny state dict written by the test) weight
    each stage's channels: d = sum_l mean_hw sum_c w_lc (n(a) - n(b))_c^2; all-ones equals the
    equal-weights distance; wrong files are one line; the projection names the distance."""
    from ganforge.editing.perceptual import AlexFeatures, choose_perceptual, load_lpips_weights

    torch.manual_seed(0)
    backbone = {f"features.{k}": v for k, v in AlexFeatures().features.state_dict().items()}
    save_file(backbone, str(tmp_path / "alexnet.safetensors"))
    net = load_vgg(tmp_path / "alexnet.safetensors")
    channels = [64, 192, 384, 256, 256]
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(channels)}
    torch.save(lin, tmp_path / "alex.pth")
    perceptual = choose_perceptual(tmp_path / "alexnet.safetensors", None, None, tmp_path / "alex.pth")
    assert perceptual.name == "lpips-alex-learned:alexnet.safetensors+alex.pth"
    a, b = torch.rand(2, 1, 16, 16) * 2 - 1, torch.rand(2, 1, 16, 16) * 2 - 1
    fa, fb = net(a), net(b)
    assert [f.shape[1] for f in fa] == channels
    expected = torch.zeros(2)
    for i, (x, y) in enumerate(zip(fa, fb, strict=True)):
        nx, ny = x / (x.norm(dim=1, keepdim=True) + 1e-10), y / (y.norm(dim=1, keepdim=True) + 1e-10)
        expected += torch.einsum("c,nchw->nhw", lin[f"lin{i}.model.1.weight"].flatten(), (nx - ny) ** 2).mean((1, 2))
    torch.testing.assert_close(perceptual.distance(a, fb), expected)
    ones = [torch.ones(c) for c in channels]
    torch.testing.assert_close(lpips_distance(fa, fb, ones), lpips_distance(fa, fb))
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate([64, 128, 256, 512, 512])},
               tmp_path / "vgg.pth")
    torch.save({"conv.weight": torch.rand(3, 3)}, tmp_path / "other.pth")
    torch.save({**lin, "lin2.model.1.weight": -torch.ones(1, 384, 1, 1)}, tmp_path / "negative.pth")
    for name, message in (("vgg.pth", "do not fit the alex backbone"), ("other.pth", "no lin0.model.1.weight"),
                          ("negative.pth", "negative or non-finite"), ("missing.pth", "do not exist")):
        with pytest.raises(GanforgeError, match=message) as info:
            load_lpips_weights(tmp_path / name, net)
        assert "\n" not in str(info.value)
    with pytest.raises(GanforgeError, match="give its weights too"):
        choose_perceptual(None, "digits", None, tmp_path / "alex.pth")
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(image)
    result = api.project(tiny_stylegan(), image, steps=2, w_avg_samples=100,
                         vgg_weights=tmp_path / "alexnet.safetensors", lpips_weights=tmp_path / "alex.pth")
    assert result["summary"]["perceptual"] == perceptual.name


def _cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (a subprocess would import torch once per call)."""
    from ganforge.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_biggan_project_class_transfer_and_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    export = FIXTURES / "gan_export"
    digit = tmp_path / "digit.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(digit)
    code, out, err = _cli(capsys, "project", str(export), str(digit), "--out", str(tmp_path / "p"),
                          "--steps", "3", "--class", "7", "--free-class")
    assert code == 0, err
    assert "perceptual classifier:digits" in out
    code, out, err = _cli(capsys, "edit", str(export), str(tmp_path / "p" / "latent.safetensors"),
                          "--to-class", "1", "--to-class", "2", "--out", str(tmp_path / "swap.png"), "--strokes")
    assert code == 0, err
    assert "column 1: mean |change| mass" in out and "slant" in out
    assert Image.open(tmp_path / "swap.png").size == (2 * 32 + 3 * 2, 32 + 4)
    code, out, err = _cli(capsys, "edit", str(export), str(tmp_path / "p" / "latent.safetensors"),
                          "--to-class", "1", "--layers", "0:1", "--out", str(tmp_path / "coarse.png"))
    assert code == 0, err
    bad = tmp_path / "wide.png"
    Image.fromarray(np.zeros((32, 40), np.uint8)).save(bad)
    for argv in (("project", str(export), str(bad)),
                 ("project", str(export), str(digit), "--space", "w"),
                 ("project", str(export), str(digit), "--steps", "0"),
                 ("edit", str(export), str(tmp_path / "missing.safetensors"), "--to-class", "1"),
                 ("edit", str(export), str(tmp_path / "p" / "latent.safetensors"), "--to-class", "1",
                  "--layers", "7:9"),
                 ("directions", str(export), "--method", "sefa", "--k", "0")):
        code, out, err = _cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and err.count("\n") == 1, err


# ---- encoder ------------------------------------------------------------------------------------
def test_encoder_shapes_and_one_training_step_for_both_kinds() -> None:
    from ganforge.editing.encoder import (
        EncoderSettings,
        build_encoder,
        encoder_loss,
        generator_batch,
    )

    for g in (tiny_stylegan(), tiny_biggan()):
        encoder = build_encoder(g, 1, width=8)
        code, images = generator_batch(g, 4, torch.Generator().manual_seed(0))
        encoded = encoder.encode(images)
        if g.style_based:
            assert encoded.space == "w+" and encoded.latent.shape == (4, g.generator.num_ws, 32)
            base = encoder.w_avg + encoder.base(encoder.features(images)[2])  # offsets start at 0 (e4e)
            assert torch.equal(encoded.latent, base[:, None].expand_as(encoded.latent))
        else:
            assert encoded.space == "z" and encoded.latent.shape == (4, 24) and encoded.classes.shape == (4, 10)
        before = [p.detach().clone() for p in encoder.parameters()]
        loss, terms = encoder_loss(g, encoder, images, code, EncoderSettings(), None)
        assert {"latent", "pixel"} <= set(terms) and ("class" in terms) != g.style_based
        loss.backward()
        torch.optim.Adam(encoder.parameters(), lr=1e-3).step()
        assert any(not torch.equal(a, b) for a, b in zip(before, encoder.parameters(), strict=True))


def test_biggan_encoder_run_on_the_loop_resumes_exactly_and_inverts(tmp_path: Path) -> None:
    """`train --recipe encoder` on a BigGAN with real images: the one loop's exact resume (2 steps
    straight = 1 + resume to 2: the exported encoders and logged rows equal), the export feeds
    `project --encoder`, and another generator is refused."""
    from ganforge.cli import main
    from ganforge.editing.exports import load_encoder
    from inversion_support import TINY
    from resume_support import straight_and_resumed, train_rows

    gen = PretrainedGenerator.of(tiny_biggan()).save_pretrained(tmp_path / "gen")

    def train(out: Path, steps: int) -> list[str]:
        return ["train", "--recipe", "encoder", "--generator", str(gen), "--steps", str(steps), "--out", str(out),
                "--no-progress", "--data", "digits", "data.limit=20", *TINY, "train.batch_size=2", "train.log_every=1",
                "monitor.plot=false"]

    straight, resumed = straight_and_resumed(tmp_path, train)
    assert train_rows(straight) == train_rows(resumed)
    assert {"loss_latent", "loss_class", "loss_real_pixel"} <= set(train_rows(straight)[-1])
    g = api.load(gen)
    a, b = load_encoder(straight, g), load_encoder(resumed, g)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
    meta = __import__("json").loads((straight / "encoder.json").read_text())
    assert meta["real_images"] == 20 and meta["steps"] == 2 and "real_recon_mse" in meta["evaluation"]
    with pytest.raises(GanforgeError, match="made with another generator"):
        load_encoder(straight, tiny_biggan(1))
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(image)
    assert main(["project", str(gen), str(image), "--encoder", str(straight), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "latent.safetensors").is_file()
    with pytest.raises(GanforgeError, match="is an inversion"):
        api.load(straight)
    with pytest.raises(GanforgeError, match="is not StyleGAN2"):  # HyperStyle refines StyleGAN2 only
        api.train_hyperstyle(gen, straight, tmp_path / "h", steps=1, progress=False)
    assert not (tmp_path / "h").exists()


def test_the_guard_rolls_an_exploding_encoder_back_with_a_lower_rate(tmp_path: Path) -> None:
    """The loop's guard on the inversion task: a learning rate that makes the loss non-finite is
    skipped, rolled back to the last checkpoint with inversion.lr halved, then stopped in one line."""
    from fuzz_support import error_line, run_cli
    from ganforge.training.run_dir import read_metrics
    from inversion_support import TINY, tiny_generator

    argv = ["train", "--recipe", "encoder", "--generator", str(tiny_generator()), "--steps", "4", "--no-progress",
            "--out", str(tmp_path / "run"), *TINY, "train.batch_size=2", "inversion.lr=1e30", "guard.rollback=true",
            "guard.max_nonfinite=1", "guard.max_rollbacks=1", "monitor.plot=false", "train.log_every=1",
            "inversion.perceptual=none"]
    status, err = run_cli(argv)
    assert status == 2 and "guard.max_rollbacks" in error_line(status, err, argv)
    events = [r for r in read_metrics(tmp_path / "run") if r["kind"] == "guard" and r["event"] == "rollback"]
    assert len(events) == 1 and "inversion.lr=5e+29" in events[0]["detail"]


@pytest.mark.skipif(not __import__("os").environ.get("GANFORGE_SLOW_TESTS"),
                    reason="two torchrun processes: ~20 s on 2 cores; set GANFORGE_SLOW_TESTS=1")
def test_encoder_on_two_ranks_equals_one_process(tmp_path: Path) -> None:
    """torchrun, 2 ranks x 2 images = 1 process x 4: each rank decodes its share of the same
    global batch and the gradients are averaged, so the encoders agree to float round-off."""
    import os
    import subprocess
    import sys

    from ganforge.training.checkpoint import load_checkpoint
    from inversion_support import TINY, tiny_generator

    args = ["-m", "ganforge", "train", "--recipe", "encoder", "--generator", str(tiny_generator()),
            "--steps", "2", "--no-progress", *TINY, "train.batch_size=4", "monitor.plot=false",
            "train.device=cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for cmd in ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                 *args, "--out", str(tmp_path / "two")], [sys.executable, *args, "--out", str(tmp_path / "one")]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    two, one = (load_checkpoint(tmp_path / k / "checkpoints" / "step_00000002.pt") for k in ("two", "one"))
    for key, value in one["networks"]["encoder"].items():
        torch.testing.assert_close(two["networks"]["encoder"][key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_hypernetwork_shapes_one_step_and_offsets_change_the_weights(tmp_path: Path) -> None:
    from ganforge.editing.hyperstyle import HyperNetwork, hyper_loss, refine, target_layers

    g = tiny_stylegan()
    layers = target_layers(g)
    assert list(layers) == ["b4.conv1.weight", "b8.conv0.weight", "b8.conv1.weight", "b16.conv0.weight",
                            "b16.conv1.weight"]
    hyper = HyperNetwork(layers, 1, 16, width=8)
    images = torch.rand(2, 1, 16, 16) * 2 - 1
    offsets = hyper(images, images)
    assert {k: tuple(v.shape) for k, v in offsets.items()} == {k: (2, *s) for k, s in layers.items()}
    ws = torch.randn(2, g.generator.num_ws, 32)
    code = LatentCode("w+", ws)
    # zero offsets reproduce the generator; W * (1 + d) equals the generator with that weight
    zero = {k: torch.zeros(2, *s) for k, s in layers.items()}
    with torch.no_grad():
        plain = decode(g, code)
        assert torch.allclose(decode(g, LatentCode("w+", ws, offsets=zero)), plain, atol=1e-5)
        bump = {**zero, "b8.conv1.weight": torch.full((2, *layers["b8.conv1.weight"]), 0.5)}
        bumped = decode(g, LatentCode("w+", ws, offsets=bump))
        g.generator.synthesis.b8.conv1.weight.mul_(1.5)
        assert torch.allclose(bumped, decode(g, code), atol=1e-5)
        g.generator.synthesis.b8.conv1.weight.div_(1.5)
    refined, outputs = refine(g, hyper, code, images, iterations=2)
    assert len(outputs) == 3 and set(refined.offsets) == set(layers)
    loss, terms = hyper_loss(g, hyper, code, images, 2, None)
    assert set(terms) == {"iter1", "iter2"}
    loss.backward()
    assert all(p.grad is not None for p in hyper.heads.parameters())


def test_serve_edit_page_sliders_and_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from fastapi.testclient import TestClient

    monkeypatch.setattr("ganforge.serve.edit.PROJECT_STEPS", 2)
    monkeypatch.setattr("ganforge.serve.edit.W_SAMPLES", 100)

    from ganforge.editing.store import save_directions
    from ganforge.serve.app import create_app

    g = tiny_stylegan()
    d = torch.zeros(2, 32)
    d[0, 0] = 3.0
    save_directions(tmp_path / "d.safetensors", d, ["thick", "tilt"], "w", g, {"method": "test"})
    client = TestClient(create_app(g, directions=str(tmp_path / "d.safetensors")))
    assert client.get("/edit").status_code == 200
    assert client.get("/api/edit/info").json()["directions"] == ["thick", "tilt"]
    plain = client.get("/api/edit/render", params={"seed": 3})
    moved = client.get("/api/edit/render", params={"seed": 3, "thick": 2})
    still = client.get("/api/edit/render", params={"seed": 3, "tilt": 2})  # a zero direction
    assert plain.status_code == moved.status_code == 200 and plain.content != moved.content
    assert still.content == plain.content
    bad = client.get("/api/edit/render", params={"seed": 3, "nope": 1})
    assert bad.status_code == 400 and "unknown direction 'nope'" in bad.json()["error"]
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(buffer, format="PNG")
    token = client.post("/api/edit/project", content=buffer.getvalue()).json()["token"]
    assert client.get("/api/edit/render", params={"source": token, "thick": 1}).status_code == 200
    assert client.post("/api/edit/project", content=b"not an image").status_code == 400
