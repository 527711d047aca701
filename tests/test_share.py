"""Export / load / Hub and the latent tools, end to end on a short real run."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import ganforge
from ganforge import api, latents
from ganforge.config import load_recipe
from ganforge.errors import GanforgeError
from ganforge.generators import PretrainedGenerator
from ganforge.models import build_models
from ganforge.nn.layers import embed_classes

TINY = ["model.ch=4", "model.dim_z=32", "model.shared_dim=16", "train.log_every=10",
        "train.sample_every=20", "train.checkpoint_every=20", "eval.every=20", "eval.n=200",
        "eval.metrics=[fid,acc]"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = api.make_config(overrides=TINY, steps=20, batch_size=32)
    return api.train(config, tmp_path_factory.mktemp("runs") / "tiny", progress=False)


@pytest.fixture(scope="module")
def exported(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "digits-g"
    result = ganforge_cli("export", str(run), str(out))
    assert result.returncode == 0, result.stderr
    return out


def ganforge_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True,
                          text=True, timeout=300, env=env)


# ---- export and load -------------------------------------------------------------------------------
def test_export_writes_weights_config_and_a_model_card(run: Path, exported: Path) -> None:
    assert sorted(p.name for p in exported.iterdir()) == ["README.md", "config.json",
                                                          "model.safetensors"]
    config = json.loads((exported / "config.json").read_text())
    assert config["architecture"] == "ganforge" and config["n_classes"] == 10
    assert config["class_names"] == [str(i) for i in range(10)]
    assert config["card"]["steps"] == 20 and config["card"]["weights"] == "G_ema"
    evaluation = config["card"]["evaluation"]
    assert evaluation["step"] == 20 and evaluation["fid"] > 0
    card = (exported / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: ganforge")
    assert f"| fid | {evaluation['fid']:.4g} |" in card
    assert "biggan-digits" in card and config["sha256"] in card


def test_loading_the_export_samples_exactly_like_the_run(run: Path, exported: Path) -> None:
    from_run, from_export = ganforge.load(run), ganforge.load(exported)
    a = from_run.sample(classes=[3, "7"], n=4, truncation=0.5, seed=11)
    b = from_export.sample(classes=[3, "7"], n=4, truncation=0.5, seed=11)
    assert a.shape == (8, 1, 32, 32) and torch.equal(a, b)
    # the same images as the pre-existing path (the EMA generator of the run, api.sample)
    generator, _, _ = api.load_generator(run)
    z = from_run.latents(8, 0.5, 11)
    assert torch.equal(generator(z, torch.tensor([3] * 4 + [7] * 4)), a)
    images = from_export.images(classes=[1], n=2, seed=0)
    assert len(images) == 2 and images[0].size == (32, 32)


def test_sample_cli_gives_identical_grids_from_run_and_export(
    run: Path, exported: Path, tmp_path: Path
) -> None:
    for source, out in ((run, "a.png"), (exported, "b.png")):
        result = ganforge_cli("sample", str(source), "--class", "2", "--n", "4", "--seed", "3",
                              "--out", str(tmp_path / out))
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_a_corrupted_export_is_refused(exported: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in exported.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(GanforgeError, match="does not match the SHA-256"):
        ganforge.load(copy)


class _Exploit:
    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {_Exploit.marker}",))


def test_a_pickle_posing_as_weights_is_never_unpickled(exported: Path, tmp_path: Path) -> None:
    folder = tmp_path / "evil"
    folder.mkdir()
    config = json.loads((exported / "config.json").read_text())
    config.pop("sha256")  # pretend a hand-made folder without a checksum
    (folder / "config.json").write_text(json.dumps(config))
    _Exploit.marker = tmp_path / "pwned"
    (folder / "model.safetensors").write_bytes(pickle.dumps({"x": _Exploit()}))
    with pytest.raises(GanforgeError, match="not a readable safetensors file"):
        ganforge.load(folder)
    assert not _Exploit.marker.exists()


def test_export_again_into_the_same_folder_replaces_it(run: Path, exported: Path) -> None:
    before = json.loads((exported / "config.json").read_text())["sha256"]
    assert ganforge_cli("export", str(run), str(exported)).returncode == 0
    assert json.loads((exported / "config.json").read_text())["sha256"] == before


def test_single_file_export_still_loads(run: Path, tmp_path: Path) -> None:
    result = ganforge_cli("export", str(run), "--out", str(tmp_path / "g.safetensors"))
    assert result.returncode == 0, result.stderr
    g = ganforge.load(tmp_path / "g.safetensors")
    assert torch.equal(g.sample([5], 2, seed=1), ganforge.load(run).sample([5], 2, seed=1))


def test_save_pretrained_and_from_pretrained_round_trip(run: Path, tmp_path: Path) -> None:
    g = ganforge.load(run)
    g.save_pretrained(tmp_path / "hf")
    again = PretrainedGenerator.from_pretrained(tmp_path / "hf")
    assert torch.equal(g.sample([0, 9], 2, 0.7, 5), again.sample([0, 9], 2, 0.7, 5))


def test_a_hub_id_that_cannot_be_downloaded_is_one_clear_line(tmp_path: Path) -> None:
    result = ganforge_cli("sample", "nobody-here/no-such-generator", "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert "could not download 'nobody-here/no-such-generator'" in result.stderr
    assert "Traceback" not in result.stderr


# ---- class vectors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [
    {},  # hierarchical z + shared embedding
    {"hierarchical_z": False, "shared_dim": 0},  # per-BN class embeddings (BigGAN CIFAR)
])
def test_biggan_takes_one_hot_and_mixed_class_vectors(overrides: dict) -> None:
    from dataclasses import replace

    cfg = load_recipe("biggan-digits")
    cfg = replace(cfg, model=replace(cfg.model, ch=4, **overrides))
    torch.manual_seed(0)
    g, _ = build_models(cfg.model)
    g.eval()
    z = torch.randn(3, g.dim_z)
    ids = torch.tensor([1, 4, 9])
    one_hot = torch.nn.functional.one_hot(ids, 10).float()
    assert torch.allclose(g(z, one_hot), g(z, ids), atol=1e-6)


def test_a_class_mix_mixes_the_embeddings() -> None:
    emb = torch.nn.Embedding(4, 3)
    mix = torch.tensor([[0.25, 0.0, 0.75, 0.0]])
    expected = 0.25 * emb.weight[0] + 0.75 * emb.weight[2]
    assert torch.allclose(embed_classes(emb, mix)[0], expected)


# ---- latent tools ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def g(run: Path) -> PretrainedGenerator:
    return ganforge.load(run)


def test_z_interpolation_starts_and_ends_at_the_two_seeds(g: PretrainedGenerator) -> None:
    sheet = latents.interpolate(g, "z", [(4, 8)], [6], steps=5, truncation=0.8)
    ends = g.generate(torch.cat([g.latents(1, 0.8, 4), g.latents(1, 0.8, 8)]),
                      torch.tensor([6, 6]), 0.8)
    assert sheet.shape[0] == 5
    assert torch.allclose(sheet[0], ends[0], atol=1e-5) and torch.allclose(sheet[-1], ends[1], atol=1e-5)
    assert not torch.allclose(sheet[2], sheet[0], atol=1e-3)


def test_class_interpolation_ends_at_each_class(g: PretrainedGenerator) -> None:
    sheet = latents.interpolate(g, "class", [(2, 3)], ["1", "7"], steps=4)
    z = g.latents(1, None, 2).repeat(2, 1)
    ends = g.generate(z, torch.tensor([1, 7]))
    assert torch.allclose(sheet[0], ends[0], atol=1e-5) and torch.allclose(sheet[3], ends[1], atol=1e-5)


def test_slerp_keeps_the_norm_and_hits_the_ends() -> None:
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    t = torch.linspace(0, 1, 7)
    path = latents.slerp(a, b, t)
    assert torch.allclose(path.norm(dim=1), torch.full((7,), 3.0))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(latents.lerp(a, b, t)[3], torch.tensor([1.5, 1.5]))


def test_arithmetic_is_mean_a_minus_mean_b_plus_mean_c(g: PretrainedGenerator) -> None:
    z = torch.arange(6 * g.dim_z, dtype=torch.float32).reshape(6, g.dim_z) / 100
    saved = latents.LatentSet(z, torch.tensor([0, 0, 1, 1, 2, 2]), None, 0, "hand-made")
    images, result = latents.arithmetic(g, saved, [0, 1], [2], [4, 5], n=3, noise=0.0)
    expected = z[[0, 1]].mean(0) - z[2] + z[[4, 5]].mean(0)
    assert torch.allclose(result, expected)
    assert images.shape[0] == 4 + 3
    direct = g.generate(expected[None], torch.tensor([2]))  # label: the c group's class
    assert torch.allclose(images[3], direct[0], atol=1e-5)
    assert torch.allclose(images[4], direct[0], atol=1e-5)  # noise 0: the variants equal it


def test_explore_starts_at_the_seed_and_stays_in_the_truncation_box(g: PretrainedGenerator) -> None:
    images = latents.explore(g, "5", seed=9, n=6, radius=0.4, truncation=0.5)
    centre = g.generate(g.latents(1, 0.5, 9), torch.tensor([5]), 0.5)
    assert images.shape[0] == 7 and torch.allclose(images[0], centre[0], atol=1e-5)
    assert len({tuple(im.flatten()[:50].tolist()) for im in images}) == 7


def test_latent_cli_tools_end_to_end(run: Path, tmp_path: Path) -> None:
    grid = tmp_path / "s.png"
    result = ganforge_cli("sample", str(run), "--class", "1", "--class", "2", "--n", "3",
                          "--save-latents", "--out", str(grid))
    assert result.returncode == 0, result.stderr
    saved = latents.load_latents(tmp_path / "s.latents.safetensors")
    assert saved.z.shape == (6, 32) and saved.labels.tolist() == [1, 1, 1, 2, 2, 2]

    result = ganforge_cli("arithmetic", str(run), str(tmp_path / "s.latents.safetensors"),
                          "--a", "0,1", "--b", "2", "--c", "3,4", "--n", "4",
                          "--out", str(tmp_path / "arith.png"))
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "arith.png").size == (4 * 34 + 2, 2 * 34 + 2)

    result = ganforge_cli("interpolate", str(run), "--mode", "both", "--class", "1", "--class", "7",
                          "--seeds", "0:1,2:3", "--steps", "5", "--truncation", "0.7",
                          "--out", str(tmp_path / "i.png"), "--gif", str(tmp_path / "i.gif"))
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "i.png").size == (5 * 34 + 2, 2 * 34 + 2)
    gif = Image.open(tmp_path / "i.gif")
    assert gif.n_frames == 2 * 5 - 2  # forward and back

    result = ganforge_cli("explore", str(run), "--class", "3", "--n", "7", "--out",
                          str(tmp_path / "e.png"))
    assert result.returncode == 0, result.stderr


# ---- BigGAN-deep: convert, load, sample by ImageNet-style names ---------------------------------------
def test_converted_biggan_deep_samples_like_the_checkpoint(tmp_path: Path) -> None:
    from dataclasses import replace

    from ganforge.models.biggan_deep import BigGANDeep, BigGANDeepConfig
    from ganforge.models.biggan_deep_checkpoint import save_biggan_deep

    torch.manual_seed(0)
    model = BigGANDeep(replace(BigGANDeepConfig.preset(128), channel_width=4))
    save_biggan_deep(model, tmp_path / "deep")
    names = [f"class {i}, synonym {i}" for i in range(1000)]
    names[207] = "golden retriever"
    (tmp_path / "names.txt").write_text("\n".join(names) + "\n")
    result = ganforge_cli("convert", "biggan-deep", str(tmp_path / "deep"), "--out",
                          str(tmp_path / "converted"), "--class-names", str(tmp_path / "names.txt"))
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "converted" / "config.json").read_text())
    assert config["architecture"] == "biggan-deep" and config["class_names"][207] == "golden retriever"

    direct, converted = ganforge.load(tmp_path / "deep"), ganforge.load(tmp_path / "converted")
    assert direct.class_names == [str(i) for i in range(1000)]  # no names beside the weights
    a = direct.sample([207, 3], n=2, truncation=0.4, seed=1)
    b = converted.sample(["Golden Retriever", "synonym 3"], n=2, truncation=0.4, seed=1)
    assert a.shape == (4, 3, 128, 128) and torch.equal(a, b)
    # BigGAN-deep's noise convention: truncation * TN(-2, 2), BN statistics chosen by truncation
    z = converted.latents(500, 0.4, 0)
    assert float(z.abs().max()) <= 0.8 and float(z.abs().max()) > 0.7
    with pytest.raises(GanforgeError, match=r"\(0, 1\]"):
        converted.sample([1], truncation=1.5)
    # class interpolation works on BigGAN-deep (class vectors)
    sheet = latents.interpolate(converted, "class", [(0, 1)], ["golden retriever", 3], steps=3,
                                truncation=0.5)
    ends = converted.generate(converted.latents(1, 0.5, 0).repeat(2, 1), torch.tensor([207, 3]), 0.5)
    assert torch.allclose(sheet[0], ends[0], atol=1e-5) and torch.allclose(sheet[2], ends[1], atol=1e-5)
    grid = tmp_path / "deep.png"
    result = ganforge_cli("sample", str(tmp_path / "converted"), "--class", "golden retriever",
                          "--n", "2", "--truncation", "0.4", "--out", str(grid))
    assert result.returncode == 0, result.stderr
    assert Image.open(grid).size == (2 * 130 + 2, 130 + 2)


def test_imagenet_names_come_from_an_installed_timm_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ganforge.generators.convert import find_class_names

    info = tmp_path / "site" / "timm" / "data" / "_info"
    info.mkdir(parents=True)
    (info.parents[1] / "__init__.py").write_text("raise RuntimeError('timm must not be imported')\n")
    synsets = [f"n{i:08d}" for i in range(1000)]
    (info / "imagenet_synsets.txt").write_text("\n".join(synsets) + "\n")
    lemmas = [f"{s}\tlemma {i}, other {i}" for i, s in enumerate(reversed(synsets))]
    (info / "imagenet_synset_to_lemma.txt").write_text("\n".join(lemmas) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    names, source = find_class_names(tmp_path, 1000, None)
    assert "timm" in source and names[0] == "lemma 999, other 999" and names[999] == "lemma 0, other 0"
    assert "timm" not in sys.modules
    given = tmp_path / "mine.txt"
    given.write_text("\n".join(f"mine {i}" for i in range(1000)))
    assert find_class_names(tmp_path, 1000, given)[0][5] == "mine 5"  # a given file wins
