"""BigGAN-deep: the public checkpoints' layout, strict loading, and an independent forward pass."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ganforge.errors import GanforgeError
from ganforge.models.biggan_deep import (
    BigGANDeep,
    BigGANDeepConfig,
    TruncationBatchNorm,
    interpolate_stats,
    spectral_normalize,
    truncation_level,
)
from ganforge.models.biggan_deep_checkpoint import load_biggan_deep, save_biggan_deep

# the 128px layout at channel_width 4: every block, attention and the output conv, in milliseconds
SMALL = dataclasses.replace(BigGANDeepConfig.preset(128), channel_width=4)


def public_state(config: BigGANDeepConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the checkpoint layout, with u and v near W's top singular vectors."""
    gen = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in BigGANDeep(config).state_dict().items()}
    state = {}
    for key, shape in shapes.items():
        if key.endswith("running_vars"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        elif key.endswith("gamma"):
            state[key] = torch.full(shape, 0.7)
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.3
    for key in [k for k in state if k.endswith("weight_orig")]:
        matrix = state[key].reshape(state[key].shape[0], -1)
        u = F.normalize(torch.randn(matrix.shape[0], generator=gen), dim=0)
        for _ in range(3):
            v = F.normalize(matrix.t() @ u, dim=0)
            u = F.normalize(matrix @ v, dim=0)
        state[key.replace("_orig", "_u")], state[key.replace("_orig", "_v")] = u, v
    return state


def write_checkpoint(directory: Path, config: BigGANDeepConfig, state: dict, **save_kw) -> Path:
    """config.json + pytorch_model.bin as pytorch-pretrained-BigGAN writes them."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    torch.save(state, directory / "pytorch_model.bin", **save_kw)
    return directory


# ---- (a) the public presets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "params", "millions", "n_keys"),
    [(128, 50_388_609, 50.389, 506), (256, 55_880_833, 55.881, 602),
     (512, 56_163_905, 56.164, 698)],
)
def test_presets_have_the_public_size(resolution, params, millions, n_keys) -> None:
    with torch.device("meta"):
        model = BigGANDeep(BigGANDeepConfig.preset(resolution))
    count = sum(p.numel() for p in model.parameters())
    assert count == params
    assert round(count / 1e6, 3) == millions
    state = model.state_dict()
    assert len(state) == n_keys
    assert (model.resolution, model.dim_z, model.n_classes) == (resolution, 128, 1000)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["embeddings.weight"] == (128, 1000)
    assert shapes["generator.gen_z.weight_orig"] == (4 * 4 * 16 * 128, 256)
    assert shapes["generator.layers.0.bn_0.running_means"] == (51, 2048)
    assert shapes["generator.layers.0.bn_0.scale.weight_orig"] == (2048, 256)
    assert shapes["generator.layers.0.conv_1.weight_orig"] == (512, 512, 3, 3)
    assert shapes["generator.layers.8.gamma"] == (1,)  # attention sits before block 8
    attn_ch = BigGANDeepConfig.preset(resolution).layers[8][1] * 128
    assert shapes["generator.layers.8.snconv1x1_theta.weight_orig"] == (attn_ch // 8, attn_ch, 1, 1)
    assert "generator.layers.8.snconv1x1_theta.bias" not in shapes
    assert shapes["generator.bn.running_vars"] == (51, 128)
    assert shapes["generator.conv_to_rgb.weight_orig"] == (128, 128, 3, 3)  # first 3 are RGB
    assert all(not k.endswith(".weight") or k in ("embeddings.weight", "generator.bn.weight")
               for k in state)


def test_config_json_round_trip_and_errors() -> None:
    for resolution in (128, 256, 512):
        preset = BigGANDeepConfig.preset(resolution)
        data = json.loads(json.dumps(preset.to_dict()))
        assert BigGANDeepConfig.from_dict(data) == preset
    data = {**SMALL.to_dict(), "transformers_version": "x"}  # metadata keys are ignored
    assert BigGANDeepConfig.from_dict(data) == SMALL
    with pytest.raises(GanforgeError, match="missing key.*n_stats"):
        BigGANDeepConfig.from_dict({k: v for k, v in data.items() if k != "n_stats"}, "cfg")
    with pytest.raises(GanforgeError, match="'layers' entry 2"):
        BigGANDeepConfig.from_dict({**data, "layers": [[False, 16, 16]] * 2 + [[1, 2]]})
    with pytest.raises(GanforgeError, match="output_dim"):
        BigGANDeepConfig.from_dict({**data, "output_dim": 256})
    with pytest.raises(GanforgeError, match="preset"):
        BigGANDeepConfig.preset(64)


# ---- (b) strict loading -------------------------------------------------------------------


def test_load_round_trip_bin_legacy_and_safetensors(tmp_path: Path) -> None:
    state = public_state(SMALL)
    for name, kw in (("zip", {}), ("legacy", {"_use_new_zipfile_serialization": False})):
        model, config = load_biggan_deep(write_checkpoint(tmp_path / name, SMALL, state, **kw))
        assert config == SMALL and not model.training
        loaded = model.state_dict()
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], v) for k, v in state.items())
    st_dir = tmp_path / "st"
    write_checkpoint(st_dir, SMALL, state)
    (st_dir / "pytorch_model.bin").unlink()
    save_file(state, str(st_dir / "model.safetensors"))
    model, _ = load_biggan_deep(st_dir)
    assert torch.equal(model.state_dict()["generator.gen_z.weight_v"],
                       state["generator.gen_z.weight_v"])
    model, _ = load_biggan_deep(save_biggan_deep(model, tmp_path / "saved").parent)
    assert torch.equal(model.state_dict()["embeddings.weight"], state["embeddings.weight"])


def test_load_rejects_mismatched_state_dicts(tmp_path: Path) -> None:
    state = public_state(SMALL)
    key = "generator.layers.3.conv_2.weight_u"

    def load(name: str, st: dict, config: BigGANDeepConfig = SMALL) -> str:
        with pytest.raises(GanforgeError) as info:
            load_biggan_deep(write_checkpoint(tmp_path / name, config, st))
        return str(info.value)

    message = load("missing", {k: v for k, v in state.items() if k != key})
    assert f"missing 1 key(s): {key}" in message and "pytorch_model.bin" in message
    message = load("extra", {**state, "generator.extra.weight": torch.zeros(3)})
    assert "unexpected 1 key(s): generator.extra.weight" in message
    message = load("shape", {**state, key: torch.zeros(5)})
    assert f"wrong shape for 1 key(s): {key} (5,) != " in message
    message = load("dtype", {**state, key: state[key].long()})
    assert f"non-float 1 key(s): {key}" in message
    message = load("module", {f"module.{k}": v for k, v in state.items()})
    assert "module." in message and "model.module.state_dict()" in message
    big = public_state(dataclasses.replace(BigGANDeepConfig.preset(256), channel_width=4))
    message = load("256", big)
    assert "biggan-deep-256 checkpoint with a 128px config" in message
    assert "\n" not in message


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="does not exist"):
        load_biggan_deep(tmp_path / "nowhere")
    directory = write_checkpoint(tmp_path / "c", SMALL, public_state(SMALL))
    (directory / "config.json").unlink()
    with pytest.raises(GanforgeError, match=r"config\.json' not found"):
        load_biggan_deep(directory)
    (directory / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(GanforgeError, match=r"config\.json' is not valid JSON"):
        load_biggan_deep(directory)
    (directory / "config.json").write_text(json.dumps({**SMALL.to_dict(), "eps": "small"}))
    with pytest.raises(GanforgeError, match=r"config\.json': 'eps' has the invalid value"):
        load_biggan_deep(directory)
    write_checkpoint(directory, SMALL, {})
    (directory / "pytorch_model.bin").unlink()
    with pytest.raises(GanforgeError, match="no weights"):
        load_biggan_deep(directory)
    (directory / "pytorch_model.bin").write_bytes(b"garbage")
    with pytest.raises(GanforgeError, match="not a readable PyTorch state dict"):
        load_biggan_deep(directory)
    torch.save({"state_dict": {"a": torch.zeros(1)}}, directory / "pytorch_model.bin")
    with pytest.raises(GanforgeError, match="not a plain state dict"):
        load_biggan_deep(directory)


class _RunsCode:
    """Unpickling this calls os.system: a stand-in for a malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    state = {**public_state(SMALL), "embeddings.weight": _RunsCode(marker)}
    directory = write_checkpoint(tmp_path / "evil", SMALL, state)
    with pytest.raises(GanforgeError, match=r"refused to load .*system.*could run code"):
        load_biggan_deep(directory)
    assert not marker.exists()


# ---- (c) an independent functional forward ------------------------------------------------


def reference_forward(
    state: dict, config: BigGANDeepConfig, z: torch.Tensor, y: torch.Tensor, truncation: float
) -> torch.Tensor:
    """The generator written out with plain functional ops on the raw checkpoint tensors."""
    eps, ch = config.eps, config.channel_width
    position = truncation * (config.n_stats - 1)
    low = math.floor(position + 1e-9)
    frac = position - low if abs(position - round(position)) > 1e-9 else 0.0

    def sn(prefix: str) -> torch.Tensor:
        w = state[prefix + ".weight_orig"]
        sigma = (state[prefix + ".weight_u"] * (w.reshape(w.shape[0], -1)
                                                @ state[prefix + ".weight_v"])).sum()
        return w / sigma

    def stat(prefix: str, name: str) -> torch.Tensor:
        s = state[f"{prefix}.running_{name}"]
        value = s[low] if frac == 0 else (1 - frac) * s[low] + frac * s[low + 1]
        return value[None, :, None, None]

    def cbn(x: torch.Tensor, prefix: str, cond: torch.Tensor) -> torch.Tensor:
        scale = (cond @ sn(prefix + ".scale").t())[:, :, None, None]
        offset = (cond @ sn(prefix + ".offset").t())[:, :, None, None]
        normed = (x - stat(prefix, "means")) / torch.sqrt(stat(prefix, "vars") + eps)
        return normed * (1 + scale) + offset

    def conv(x: torch.Tensor, prefix: str) -> torch.Tensor:
        w = sn(prefix)
        return F.conv2d(x, w, state.get(prefix + ".bias"), padding=w.shape[-1] // 2)

    cond = torch.cat([z, y @ state["embeddings.weight"].t()], dim=1)
    h = cond @ sn("generator.gen_z").t() + state["generator.gen_z.bias"]
    h = h.reshape(len(z), 4, 4, -1).permute(0, 3, 1, 2)
    index = 0
    for i, (up, _, c_out) in enumerate(config.layers):
        if i == config.attention_layer_position:
            p = f"generator.layers.{index}"
            n, c, height, width = h.shape
            theta = conv(h, p + ".snconv1x1_theta").reshape(n, c // 8, -1)
            phi = F.max_pool2d(conv(h, p + ".snconv1x1_phi"), 2).reshape(n, c // 8, -1)
            g = F.max_pool2d(conv(h, p + ".snconv1x1_g"), 2).reshape(n, c // 2, -1)
            attention = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (n, hw, hw/4)
            mixed = (g @ attention.transpose(1, 2)).reshape(n, c // 2, height, width)
            h = h + state[p + ".gamma"] * conv(mixed, p + ".snconv1x1_o_conv")
            index += 1
        p = f"generator.layers.{index}"
        x = h
        h = conv(F.relu(cbn(h, p + ".bn_0", cond)), p + ".conv_0")
        h = F.relu(cbn(h, p + ".bn_1", cond))
        if up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = conv(h, p + ".conv_1")
        h = conv(F.relu(cbn(h, p + ".bn_2", cond)), p + ".conv_2")
        h = conv(F.relu(cbn(h, p + ".bn_3", cond)), p + ".conv_3")
        skip = x[:, : c_out * ch]
        if up:
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        h = h + skip
        index += 1
    bn = "generator.bn"
    h = (h - stat(bn, "means")) / torch.sqrt(stat(bn, "vars") + eps)
    h = F.relu(h * state[bn + ".weight"][None, :, None, None] + state[bn + ".bias"][None, :, None, None])
    return torch.tanh(conv(h, "generator.conv_to_rgb")[:, :3])


@pytest.mark.parametrize("truncation", [0.4, 0.415])  # level 20 exactly; 3/4 of the way to 21
def test_forward_matches_functional_reference(tmp_path: Path, truncation: float) -> None:
    state = public_state(SMALL, seed=1)
    model, _ = load_biggan_deep(write_checkpoint(tmp_path, SMALL, state))
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(2, 128, generator=gen).clamp(-2, 2)
    labels = torch.tensor([3, 917])
    with torch.no_grad():
        expected = reference_forward(state, SMALL, z, F.one_hot(labels, 1000).float(), truncation)
        out = model(z, labels, truncation)
        baked = model.bake()(z, labels, truncation)
    assert out.shape == (2, 3, 128, 128)
    assert expected.std() > 0.05 and (expected.abs() < 0.99).float().mean() > 0.5  # not saturated
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(baked, out, rtol=1e-5, atol=1e-6)


def test_reversed_interpolation_would_be_caught() -> None:
    """pytorch-pretrained-BigGAN weights the levels the other way round: at 0.415 (level 20.75)
    it uses 0.75 * stats[20] + 0.25 * stats[21], which is our 0.405. The outputs differ, so the
    reference check at 0.415 above tells the two weightings apart."""
    model = BigGANDeep(SMALL)
    model.load_state_dict(public_state(SMALL, seed=1))
    z, ids = torch.randn(1, 128), torch.tensor([5])
    with torch.no_grad():
        assert (model(z, ids, 0.415) - model(z, ids, 0.405)).abs().max() > 1e-3


def test_spectral_norm_matches_torch_eval_mode() -> None:
    conv = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3))
    with torch.no_grad():
        conv.weight_orig.normal_()
        conv.weight_u.copy_(F.normalize(torch.randn(5), dim=0))
        conv.weight_v.copy_(F.normalize(torch.randn(54), dim=0))
    conv.eval()
    conv(torch.zeros(1, 6, 4, 4))  # eval mode: recomputes the weight, no power iteration
    ours = spectral_normalize(conv.weight_orig.detach(), conv.weight_u, conv.weight_v)
    torch.testing.assert_close(ours, conv.weight.detach(), rtol=0, atol=0)


# ---- (d) truncation statistics -------------------------------------------------------------


def test_truncation_statistics_interpolate_between_levels() -> None:
    stats = torch.zeros(51, 4)
    stats[20], stats[21] = 1.0, 3.0
    assert truncation_level(0.4, 51) == (20, 0.0)  # 0.4 * 50 is not exactly 20 in floats
    assert truncation_level(1.0, 51) == (50, 0.0)
    index, frac = truncation_level(0.415, 51)
    assert index == 20 and frac == pytest.approx(0.75)
    assert torch.equal(interpolate_stats(stats, truncation_level(0.4, 51)), stats[20])
    torch.testing.assert_close(interpolate_stats(stats, truncation_level(0.415, 51)),
                               torch.full((4,), 0.25 * 1 + 0.75 * 3))
    bn = TruncationBatchNorm(4, 51, eps=0.0)  # unconditional: (x - mean) / std * 1 + 0
    bn.running_means.copy_(stats)
    out = bn(torch.zeros(1, 4, 2, 2), truncation_level(0.41, 51))  # halfway: mean 2
    torch.testing.assert_close(out, torch.full((1, 4, 2, 2), -2.0))


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.01, float("nan"), "0.5", True, None])
def test_out_of_range_truncation_is_an_error(bad) -> None:
    with pytest.raises(GanforgeError, match="truncation"):
        truncation_level(bad, 51)


def test_model_rejects_bad_inputs() -> None:
    model = BigGANDeep(SMALL)
    z = torch.randn(2, 128)
    with pytest.raises(GanforgeError, match=r"truncation must be in \(0, 1\]"):
        model(z, torch.tensor([1, 2]), 1.5)
    with pytest.raises(GanforgeError, match="class ids must be in 0..999"):
        model(z, torch.tensor([1, 1000]), 0.5)
    with pytest.raises(GanforgeError, match=r"class vectors must have shape \(2, 1000\)"):
        model(z, torch.zeros(2, 10), 0.5)
    with pytest.raises(GanforgeError, match=r"z must have shape \(N, 128\)"):
        model(z[:, :64], torch.tensor([1, 2]), 0.5)


# ---- (e) class vectors ---------------------------------------------------------------------


def test_class_vectors_match_ids_and_mix_linearly() -> None:
    model = BigGANDeep(SMALL)
    model.load_state_dict(public_state(SMALL, seed=3))
    ids = torch.tensor([7, 420])
    one_hot = F.one_hot(ids, 1000).float()
    assert torch.equal(model.embed(one_hot, 2), model.embed(ids, 2))
    mix = 0.5 * one_hot[0] + 0.5 * one_hot[1]
    torch.testing.assert_close(model.embed(mix[None], 1)[0],
                               0.5 * (model.embed(ids, 2)[0] + model.embed(ids, 2)[1]))
    z = torch.randn(2, 128)
    with torch.no_grad():
        torch.testing.assert_close(model(z, one_hot, 0.7), model(z, ids, 0.7), rtol=0, atol=0)
        mixed = model(z[:1], mix[None], 0.7)
    assert mixed.shape == (1, 3, 128, 128) and torch.isfinite(mixed).all()


# ---- (f) eval and sweep on a converted BigGAN-deep ---------------------------------------------------


def test_eval_and_sweep_on_a_converted_biggan_deep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random weights in the public key layout -> convert -> eval and sweep, drawing z in
    BigGAN-deep's own convention (t * TN(-2, 2), BN statistics chosen by t)."""
    import ganforge
    from ganforge import api
    from ganforge.cli import main
    from ganforge.metrics.evaluate import generated_images, quantise
    from ganforge.sampling import truncated_normal

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    write_checkpoint(tmp_path / "deep", SMALL, public_state(SMALL))
    assert main(["convert", "biggan-deep", str(tmp_path / "deep"), "--out",
                 str(tmp_path / "converted")]) == 0
    g = ganforge.load(tmp_path / "converted")
    # eval's images: balanced shuffled labels, then z from the same stream in deep's convention
    images, labels = generated_images(g, 6, 1000, 0.4, seed=3)
    rng = torch.Generator().manual_seed(3)
    expected_labels = (torch.arange(6) % 1000)[torch.randperm(6, generator=rng)]
    z = 0.4 * truncated_normal((6, g.dim_z), 2.0, rng)
    assert torch.equal(labels, expected_labels)
    assert torch.equal(images, quantise(g.generator(z, expected_labels, 0.4)))

    options = {"data": "digits", "features": "digits", "n_ref": 60}
    result = api.evaluate(tmp_path / "converted", "fid,kid,pr,acc", n=12, truncation=0.4,
                          seed=0, **options)
    assert result["metrics"]["fid"] > 0 and "precision" in result["metrics"]
    assert "classifier knows 10 classes" in result["missing"]["acc"]
    assert result["protocol"]["source_kind"].startswith("exported generator")
    assert result["protocol"]["resolution"] == 128
    with pytest.raises(ganforge.GanforgeError, match="give the reference with --data"):
        api.evaluate(tmp_path / "converted", "fid", n=4)  # no training data on record

    out = tmp_path / "sweep"
    assert main(["sweep", str(tmp_path / "deep"), "--truncation", "0.4,1.0", "--n", "12",
                 "--metrics", "fid,pr", "--data", "digits", "--features", "digits",
                 "--n-ref", "60", "--out", str(out)]) == 0
    rows = json.loads((out / "sweep.json").read_text())["rows"]
    assert [r["truncation"] for r in rows] == [0.4, 1.0] and all(r["fid"] > 0 for r in rows)
    assert (out / "strip.png").is_file()
    assert main(["sweep", str(tmp_path / "converted"), "--truncation", "0.5,1.5", "--n", "12",
                 "--data", "digits", "--features", "digits", "--out", str(tmp_path / "bad")]) == 2
