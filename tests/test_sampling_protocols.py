"""Issue 18: metrics independent of input order, BN modes at sampling time, truncation
conventions, and the protocol each result records."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from ganforge import api
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.generator import STANDING_SEED, Generator
from ganforge.metrics.evaluate import reference_cache_name
from ganforge.metrics.order import content_order, seeded_subset
from ganforge.nn.bn_modes import parse_bn_mode
from ganforge.sampling import draw_latents, truncation_bound

FIXTURE_RUN = Path(__file__).parent / "fixtures" / "release_0_1" / "gan_run"


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ---- order ------------------------------------------------------------------------------------
def test_every_metric_is_independent_of_the_order_of_its_input(tmp_path: Path, cache: Path) -> None:
    """Class-sorted digits and the same digits shuffled give the same numbers, to the bit, for
    every metric, with all images and with a subset (`--n` below the set size)."""
    data = load_dataset("digits", 32, 1)
    keep = torch.cat([torch.nonzero(data.labels == c).flatten()[:40] for c in range(10)])  # sorted
    images, labels = data.images[keep].numpy(), data.labels[keep].numpy()
    shuffle = np.random.default_rng(0).permutation(len(keep))
    np.savez(tmp_path / "sorted.npz", images=images, labels=labels)
    np.savez(tmp_path / "shuffled.npz", images=images[shuffle], labels=labels[shuffle])
    for n in (400, 150):
        a, b = (api.evaluate(tmp_path / f"{name}.npz", "fid,is,kid,pr,dc,acc", n=n, data="digits",
                             features="digits", seed=2) for name in ("sorted", "shuffled"))
        assert a["metrics"] == b["metrics"], n
        assert a["metrics"]["is"]["mean"] > 6.0, "IS of class-sorted digits must not collapse"
        assert a["metrics"]["class_coverage"]["classes_produced"] == 10, "a subset keeps every class"
    assert "random 150 of 400 images (seed 2)" == a["protocol"]["subset"]


def test_content_order_and_seeded_subsets() -> None:
    images = torch.randint(0, 256, (50, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(50) % 5
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    a_img, a_lab = seeded_subset(images, labels, 20, seed=3)
    b_img, b_lab = seeded_subset(images[perm], labels[perm], 20, seed=3)
    assert torch.equal(a_img, b_img) and torch.equal(a_lab, b_lab)
    c_img, _ = seeded_subset(images, labels, 20, seed=4)
    assert len(c_img) == 20 and not torch.equal(a_img, c_img)
    full, _ = seeded_subset(images, labels, None, seed=3)
    assert torch.equal(full, images[content_order(images, labels)]) and len(full) == 50
    twins = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)  # same pixels: the label decides
    assert content_order(twins, torch.tensor([1, 0])).tolist() == [1, 0]


def test_reference_cache_key_follows_the_extractors_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "my_extractor.py"
    source.write_text("from torch import nn\nclass Ext(nn.Module):\n    name = 'ext'\n"
                      "    weights_sha256 = 'a' * 64\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("my_extractor", source)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "my_extractor", module)
    spec.loader.exec_module(module)
    extractor = module.Ext()
    before = reference_cache_name("f" * 64, extractor)
    assert before == reference_cache_name("f" * 64, extractor)
    source.write_text(source.read_text(encoding="utf-8") + "# the port changed\n", encoding="utf-8")
    after = reference_cache_name("f" * 64, extractor)
    assert after != before and after.startswith("f" * 20 + "-ext-" + "a" * 12)


# ---- BN modes -----------------------------------------------------------------------------------
class TinyG(nn.Module):
    """z -> linear -> (N, 2, 3, 3) -> BatchNorm2d (no affine) -> tanh."""

    dim_z, resolution = 4, 3

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 18)
        self.bn = nn.BatchNorm2d(2, affine=False, eps=1e-5)
        self.bn.running_mean.fill_(0.3)
        self.bn.running_var.fill_(2.0)

    def pre(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z).view(-1, 2, 3, 3)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.bn(self.pre(z)))


def normalised(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    return torch.tanh((x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + 1e-5))


def test_standing_statistics_equal_a_hand_computation() -> None:
    g = Generator(TinyG(), ["a", "b"]).use_bn("standing:3x4")
    z = g.latents(5, 0.7, seed=9)
    out = g.generate(z, torch.zeros(5, dtype=torch.long), 0.7)
    rng = torch.Generator().manual_seed(STANDING_SEED)  # the passes, by hand
    means, variances = [], []
    for _ in range(3):
        zb = draw_latents((4, 4), 0.7, "resample", rng)
        torch.randint(0, 2, (4,), generator=rng)
        x = g.generator.pre(zb).double()
        means.append(x.mean(dim=(0, 2, 3)))
        variances.append((x * x).mean(dim=(0, 2, 3)) - x.mean(dim=(0, 2, 3)) ** 2)  # biased
    mean, var = torch.stack(means).mean(0).float(), torch.stack(variances).mean(0).float()
    torch.testing.assert_close(out, normalised(g.generator.pre(z), mean, var), rtol=1e-5, atol=1e-6)
    assert torch.all(g.generator.bn.running_mean == 0.3)  # the stored statistics are put back
    assert torch.all(g.generator.bn.running_var == 2.0)


def test_per_truncation_statistics_are_stored_at_one_and_standing_elsewhere_computed_once() -> None:
    g = Generator(TinyG(), ["a", "b"], card={"bn": "per-truncation:3x4"})  # as a TF-Hub export
    assert g.bn_mode.name == "per-truncation:3x4"
    passes = []
    g.generator.fc.register_forward_hook(lambda *_: passes.append(1))
    z, y = g.latents(5, 0.7, seed=9), torch.zeros(5, dtype=torch.long)
    at_one = g.generate(z, y, 1.0)
    assert len(passes) == 1  # the stored statistics, no standing passes
    torch.testing.assert_close(at_one, normalised(g.generator.pre(z), torch.full((2,), 0.3),
                                                  torch.full((2,), 2.0)))
    passes.clear()
    first, again = g.generate(z, y, 0.7), g.generate(z, y, 0.7)
    assert len(passes) == 3 + 1 + 1  # standing statistics computed once for 0.7, then kept
    torch.testing.assert_close(first, again)
    torch.testing.assert_close(first, Generator(TinyG(), ["a", "b"]).use_bn("standing:3x4")
                               .generate(z, y, 0.7))
    assert torch.all(g.generator.bn.running_mean == 0.3)  # the stored statistics are put back
    assert Generator(TinyG(), ["a"], bn_mode=parse_bn_mode("running"), card={"bn": "batch"}).bn_mode.kind == "running"
    assert parse_bn_mode("per-truncation").name == "per-truncation:16x64"


def test_batch_statistics_normalise_each_batch_and_leave_the_stored_ones() -> None:
    g = Generator(TinyG(), ["a", "b"])
    z = g.latents(6, None, seed=1)
    y = torch.zeros(6, dtype=torch.long)
    running = g.generate(z, y)
    x = g.generator.pre(z)
    torch.testing.assert_close(running, normalised(x, torch.full((2,), 0.3), torch.full((2,), 2.0)))
    batch = g.use_bn("batch").generate(z, y)  # one batch of 6
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(batch, normalised(x, mean, var), rtol=1e-5, atol=1e-6)
    pairs = g.use_bn("batch:2").generate(z, y)  # three batches of 2: another result
    assert not torch.allclose(pairs, batch, atol=1e-3)
    assert torch.all(g.generator.bn.running_mean == 0.3) and g.generator.bn.training is False
    torch.testing.assert_close(g.use_bn("running").generate(z, y), running)


def test_bn_modes_parse_and_refuse_generators_without_statistics() -> None:
    assert parse_bn_mode("standing:16").name == "standing:16x64"
    assert parse_bn_mode("batch:50").name == "batch:50" and parse_bn_mode(None).name == "running"
    for bad in ("standing", "standing:0", "batch:1", "eval", "standing:4x1"):
        with pytest.raises(GanforgeError, match="--bn"):
            parse_bn_mode(bad)
    no_bn = nn.Sequential(nn.Linear(4, 4))
    no_bn.dim_z = 4
    with pytest.raises(GanforgeError, match="needs BatchNorm layers"):
        Generator(no_bn, ["a"]).use_bn("batch")


def test_eval_records_bn_mode_convention_and_protocol(cache: Path) -> None:
    results = {mode: api.evaluate(FIXTURE_RUN, "fid,is,kid,acc", n=60, bn=mode, seed=0,
                                  truncation=0.8, truncation_convention="scale")
               for mode in ("running", "batch", "standing:2x16")}
    assert len({json.dumps(r["metrics"], sort_keys=True) for r in results.values()}) == 3
    p = results["batch"]["protocol"]
    assert p["bn"] == "batch:100" and results["standing:2x16"]["protocol"]["bn"] == "standing:2x16"
    assert p["truncation"] == 0.8 and p["truncation_convention"] == "scale"
    assert p["is_splits"] == 10 and "RandomState(2020)" in p["is_split_order"]
    assert "subsets of 60 rows" in p["kid_subsets"] and "content order" in p["order"]
    assert p["device"] == "cpu" and set(p["versions"]) >= {"ganforge", "torch", "numpy"}
    assert len(p["features"]["code_version"]) == 12
    few = api.evaluate(FIXTURE_RUN, "is", n=7, seed=0)  # fewer images than splits: recorded
    assert few["protocol"]["is_splits"] == few["metrics"]["is"]["splits"] == 7


def test_sample_cli_takes_bn_and_convention(tmp_path: Path) -> None:
    def ganforge(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True,
                              text=True, timeout=300)

    ok = ganforge("sample", str(FIXTURE_RUN), "--n", "2", "--out", str(tmp_path / "g.png"),
                  "--bn", "standing:2x8", "--truncation", "0.5", "--truncation-convention", "tfhub")
    assert ok.returncode == 0, ok.stderr
    bad = ganforge("sample", str(FIXTURE_RUN), "--bn", "standing:x", "--out", str(tmp_path / "h.png"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--bn" in bad.stderr
    assert not (tmp_path / "h.png").exists()


# ---- truncation conventions ---------------------------------------------------------------------
@pytest.mark.parametrize("t", [0.5, 1.5])
def test_truncation_conventions_have_their_distributions(t: float) -> None:
    rng = torch.Generator().manual_seed(0)
    resample = draw_latents((200, 100), t, "resample", rng).flatten().numpy()
    scale = draw_latents((200, 100), t, "scale", rng).flatten().numpy()
    tfhub = draw_latents((200, 100), t, "tfhub", rng).flatten().numpy()
    assert np.abs(resample).max() <= t and np.abs(tfhub).max() <= 2 * t
    assert stats.kstest(resample, stats.truncnorm(-t, t).cdf).pvalue > 0.01
    assert stats.kstest(scale, stats.norm(scale=t).cdf).pvalue > 0.01
    assert stats.kstest(tfhub, stats.truncnorm(-2, 2, scale=t).cdf).pvalue > 0.01
    assert stats.kstest(resample, stats.norm(scale=t).cdf).pvalue < 1e-6  # they do differ
    assert truncation_bound(t, "resample") == t and truncation_bound(t, "tfhub") == 2 * t
    assert truncation_bound(t, "scale") is None


def test_conventions_by_name_in_the_generator() -> None:
    g = Generator(TinyG(), ["a", "b"])
    assert g.truncation_convention == "resample" and g.check_truncation(None) is None
    assert g.use_truncation_convention("tfhub").check_truncation(None) == 1.0
    same = torch.equal(g.latents(4, 0.5, 3), draw_latents((4, 4), 0.5, "tfhub",
                                                        torch.Generator().manual_seed(3)))
    assert same
    with pytest.raises(GanforgeError, match="unknown truncation convention 'paper'"):
        g.use_truncation_convention("paper")
    card = Generator(TinyG(), ["a"], card={"truncation_convention": "scale"})
    assert card.truncation_convention == "scale"  # a converted model's own convention


# ---- recipes ------------------------------------------------------------------------------------
def test_biggan_recipes_follow_biggan_pytorchs_runs() -> None:
    cifar = api.make_config("biggan-32")
    # 500 epochs of 50,000 CIFAR images; a G step takes 4 D steps of 50 images
    assert cifar.train.steps == 500 * 50_000 // (cifar.train.d_steps * cifar.train.batch_size) == 125_000
    assert cifar.eval.bn == "batch:50" and cifar.data.hflip is False
    for name in ("biggan-64", "biggan-128", "biggan-256", "biggan-512"):
        assert api.make_config(name).data.hflip is False, name


def test_biggan_deep_uses_every_stored_level_it_is_asked_for() -> None:
    """t = k/50 picks level k exactly (frac 0), including 0.14, 0.28, 0.56, 0.58 and 0.94 where
    pytorch-pretrained-BigGAN's math.modf(t / 0.02) misses the level by float rounding."""
    from ganforge.models.biggan_deep import truncation_level

    for k in range(1, 51):
        t = round(k * 0.02, 2)
        level = truncation_level(t, 51)
        assert (level.index, level.frac) == (k, 0.0), t
