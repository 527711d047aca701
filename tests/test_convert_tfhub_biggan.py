"""`ganforge convert tfhub-biggan`: the name mapping covers every variable of each resolution's
module (lists as data, derived from BigGAN-PyTorch's TF-Hub converter), and a narrow fake
module written in TensorFlow's format converts with the TF->PyTorch reorderings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge import api
from ganforge.errors import GanforgeError
from ganforge.generators.sources import source_kind
from ganforge.generators.tfhub_biggan import tfhub_config, variable_names
from tf_bundle_writer import write_bundle

MODULES = json.loads((Path(__file__).parent / "fixtures" / "tfhub_biggan_variables.json").read_text())
EMA = "ema_b999900"


@pytest.mark.parametrize("resolution", [128, 256, 512])
def test_mapping_covers_every_variable_of_the_module(resolution: int) -> None:
    module = MODULES[str(resolution)]
    roles = variable_names(tfhub_config(resolution))
    assert sorted(roles) == sorted(module)
    assert {r for r in roles.values()} == {"used", "raw", "u1", "counter"}
    config = tfhub_config(resolution).model
    assert (config.dim_z, config.g_attention, config.ch, config.shared_dim, config.bn_eps) == (
        {128: 120, 256: 140, 512: 128}[resolution], [{128: 64, 256: 128, 512: 64}[resolution]], 96, 128, 1e-4)


def fake_module(folder: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """The 128 px module's variables at ch 8: every ch-derived size (a multiple of 96 / 8 = 12 in
    the ch-96 list) scaled by 8 / 96; classes 1000, embedding 128, z chunk 20 as published."""
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, shape in MODULES["128"].items():
        shape = [d * 8 // 96 if d % 12 == 0 else d for d in shape]
        if name.endswith(("accumulated_var", "accumulation_counter")):
            value = torch.rand(shape, generator=gen) + 0.5
        else:
            value = torch.randn(shape, generator=gen) * 0.2
        tensors[name] = value
    (folder / "variables").mkdir(parents=True)
    write_bundle(folder / "variables" / "variables", tensors, per_block=16)
    (folder / "tfhub_module.pb").write_bytes(b"")
    return tensors


def test_fake_module_converts_with_the_reorderings(tmp_path: Path) -> None:
    tf = fake_module(tmp_path / "module")
    assert source_kind(tmp_path / "module") == "tfhub-biggan"
    result = api.convert("tfhub-biggan", tmp_path / "module", tmp_path / "out")
    assert result["resolution"] == 128
    g = ganforge.load(tmp_path / "out")
    assert g.card["truncation_convention"] == "tfhub" and g.truncation_convention == "tfhub"
    assert g.config.model.ch == 8
    sd = g.generator.state_dict()
    c = 16 * 8
    assert torch.equal(sd["shared.weight"], tf[f"linear/w/{EMA}"])
    w = tf[f"Generator/G_Z/G_linear/w/{EMA}"]  # (20, 4*4*c) with outputs in (h, w, c) order
    lin = sd["linear.parametrizations.weight.original"]
    for ch_, h, x in ((0, 0, 0), (5, 1, 3), (c - 1, 3, 2)):
        assert torch.equal(lin[ch_ * 16 + h * 4 + x], w[:, (h * 4 + x) * c + ch_])
        assert sd["linear.bias"][ch_ * 16 + h * 4 + x] == tf[f"Generator/G_Z/G_linear/b/{EMA}"][(h * 4 + x) * c + ch_]
    gain = sd["blocks.2.bn1.gain.parametrizations.weight.original"]  # TF reads [z chunk, embedding]
    tf_gain = tf[f"Generator/GBlock_2/HyperBN/gamma/w/{EMA}"]
    assert torch.equal(gain[:, 0], tf_gain[20]) and torch.equal(gain[:, 128], tf_gain[0])
    conv = sd["blocks.1.conv2.parametrizations.weight.original"]
    assert torch.equal(conv[3, 5, 0, 2], tf[f"Generator/GBlock_1/conv1/w/{EMA}"][0, 2, 5, 3])
    assert torch.equal(sd["attention.3.o.parametrizations.weight.original"][:, :, 0, 0],
                       tf[f"Generator/attention/o_conv/w/{EMA}"][0, 0].t())
    assert torch.equal(sd["out_bn.running_var"], tf["Generator/ScaledCrossReplicaBNbn/accumulated_var"])
    assert torch.equal(sd["blocks.4.bn2.bn.running_mean"], tf["Generator/GBlock_4/CrossReplicaBN_1/accumulated_mean"])
    # spectral norm: the normalised weight is W / sigma, sigma after one iteration from u0
    weight = g.generator.blocks[0].conv_sc.weight
    raw = sd["blocks.0.conv_sc.parametrizations.weight.original"].reshape(c, -1)
    u = tf["Generator/GBlock/conv_sc/u0"].reshape(1, -1)
    v = F.normalize(u @ raw, eps=1e-4)
    u2 = F.normalize(v @ raw.t(), eps=1e-4)
    sigma = (v @ raw.t() @ u2.t()).squeeze()
    torch.testing.assert_close(weight.reshape(c, -1), raw / sigma, rtol=1e-5, atol=1e-7)
    # the module's BN statistics are per truncation: stored at 1, standing at any other
    assert g.bn_mode.name == "per-truncation:16x64" and g.card["bn"] == "per-truncation:16x64"
    images = g.use_bn("per-truncation:1x4").sample(classes=["3"], n=2, truncation=0.5, seed=0)
    assert images.shape == (2, 3, 128, 128) and torch.isfinite(images).all()
    stored = g.sample(classes=["3"], n=2, truncation=1.0, seed=0)
    torch.testing.assert_close(stored, g.use_bn("running").sample(classes=["3"], n=2, truncation=1.0, seed=0))
    raw_g = api.load(tmp_path / "module")  # read directly too, and --raw reads the trained weights
    assert torch.equal(raw_g.generator.shared.weight, tf[f"linear/w/{EMA}"])
    api.convert("tfhub-biggan", tmp_path / "module", tmp_path / "raw", ema=False)
    assert torch.equal(ganforge.load(tmp_path / "raw").generator.shared.weight, tf["linear/w"])


def test_unknown_and_missing_variables_are_named(tmp_path: Path) -> None:
    tf = fake_module(tmp_path / "module")
    prefix = tmp_path / "module" / "variables" / "variables"
    write_bundle(prefix, {**tf, "Generator/GBlock/extra/w": torch.zeros(1)}, per_block=16)
    with pytest.raises(GanforgeError, match="unexpected variable 'Generator/GBlock/extra/w'"):
        api.convert("tfhub-biggan", tmp_path / "module", tmp_path / "out")
    del tf[f"Generator/GBlock_3/conv0/b/{EMA}"]
    write_bundle(prefix, tf, per_block=16)
    with pytest.raises(GanforgeError, match=f"variable 'Generator/GBlock_3/conv0/b/{EMA}' is missing"):
        api.convert("tfhub-biggan", tmp_path / "module", tmp_path / "out")
    with pytest.raises(GanforgeError, match="variables/variables.index"):
        api.convert("tfhub-biggan", tmp_path, tmp_path / "out")
