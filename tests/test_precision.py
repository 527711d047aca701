"""Speed levers: bf16/fp16 autocast (with fp32 islands), fp16 loss scaling, channels_last,
fused Adam, torch.compile and the dataset kept on the device."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.nn.utils import parametrizations

from ganforge import api
from ganforge.data.spec import load_training_data
from ganforge.nn.layers import Fp32SpectralNorm, LayerFactory
from ganforge.training.launch import make_loop
from ganforge.training.loop import Loop
from ganforge.training.run_dir import RunDir

SMALL = ["model.ch=8", "model.dim_z=32", "model.shared_dim=16", "train.batch_size=16",
         "monitor.plot=false"]


def _trainer(tmp_path: Path, *overrides: str, recipe: str = "biggan-digits") -> Loop:
    config = api.make_config(recipe=recipe, overrides=[*SMALL, *overrides] if recipe == "biggan-digits"
                             else ["monitor.plot=false", *overrides])
    data = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    return make_loop(config, data, RunDir(tmp_path))


def _losses(trainer: Loop, steps: int) -> list[tuple[float, float]]:
    return [(trainer.task.d_step()["loss_d"], trainer.task.g_step()["loss_g"]) for _ in range(steps)]


def test_spectral_norm_power_iteration_runs_without_autocast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under autocast u, v and sigma are estimated in float32: the parametrization switches
    autocast off (on CUDA `mv` would otherwise run in half precision)."""
    seen: list[bool] = []
    original = parametrizations._SpectralNorm._power_method

    def spy(self: object, weight_mat: torch.Tensor, n: int) -> None:
        seen.append(torch.is_autocast_enabled("cpu"))
        assert weight_mat.dtype == torch.float32
        original(self, weight_mat, n)

    monkeypatch.setattr(parametrizations._SpectralNorm, "_power_method", spy)
    conv = LayerFactory().conv(4, 6)
    assert isinstance(conv.parametrizations.weight[0], Fp32SpectralNorm)
    plain = LayerFactory().conv(4, 6)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, 4, 5, 5)
    seen.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(x)
    plain(x)
    assert seen == [False, False] and out.dtype == torch.bfloat16
    for name in ("_u", "_v"):
        mixed, reference = (getattr(m.parametrizations.weight[0], name) for m in (conv, plain))
        assert mixed.dtype == torch.float32 and torch.equal(mixed, reference)
    conv.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv.weight.dtype == torch.float32  # sigma and W / sigma in float32 too


def test_bf16_keeps_batchnorm_statistics_float32_and_close(tmp_path: Path) -> None:
    fp32, bf16 = _trainer(tmp_path / "a"), _trainer(tmp_path / "b", "train.precision=bf16")
    for trainer in (fp32, bf16):
        trainer.task.d_step()
        trainer.task.g_step()
    stats = [(n, b) for n, b in bf16.task.G.named_buffers() if "running" in n]
    assert stats and all(b.dtype == torch.float32 for _, b in stats)
    reference = dict(fp32.task.G.named_buffers())
    for name, value in stats:
        torch.testing.assert_close(value, reference[name], rtol=0.05, atol=0.02, msg=name)
    assert all(p.dtype == torch.float32 for p in bf16.task.G.parameters())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_losses_stay_finite_and_near_fp32(tmp_path: Path, precision: str) -> None:
    reference = _losses(_trainer(tmp_path / "fp32"), 3)
    mixed_trainer = _trainer(tmp_path / precision, f"train.precision={precision}")
    mixed = _losses(mixed_trainer, 3)
    assert all(math.isfinite(v) for pair in mixed for v in pair)
    assert mixed[0][0] == pytest.approx(reference[0][0], rel=0.02)  # same nets, same batch
    if precision == "bf16":  # no loss scaling: every step is taken and the runs stay together
        for (d, g), (d_ref, g_ref) in zip(mixed, reference, strict=True):
            assert d == pytest.approx(d_ref, rel=0.05, abs=0.05)
            assert g == pytest.approx(g_ref, rel=0.05, abs=0.05)
    else:  # fp16 may skip its opening steps while the scaler finds its scale
        assert mixed_trainer.guard.nonfinite_skips == 0


def test_fp16_overflow_is_the_scalers_skip_not_a_guard_event(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "train.precision=fp16")
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**120)  # any gradient overflows float16
    trainer.task.precision.scalers["d"] = scaler
    before = [p.detach().clone() for p in trainer.task.D.parameters()]
    trainer.task.d_step()
    assert trainer.task.precision.overflow_skips == 1
    assert trainer.guard.nonfinite_skips == 0
    assert float(scaler.get_scale()) == 2.0**119  # halved
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.task.D.parameters(), strict=True))
    state = trainer.state_dict()["precision"]
    fresh = _trainer(tmp_path / "fresh", "train.precision=fp16")
    fresh.task.precision.load_state_dict(state)
    assert float(fresh.task.precision.scalers["d"].get_scale()) == 2.0**119
    assert fresh.task.precision.overflow_skips == 1


def test_unknown_precision_is_a_clear_error(tmp_path: Path) -> None:
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="fp32, bf16, fp16"):
        _trainer(tmp_path, "train.precision=fp8")


def _params(trainer: Loop) -> list[torch.Tensor]:
    return [p.detach() for net in (trainer.task.G, trainer.task.D) for p in net.parameters()]


def test_channels_last_trains_like_contiguous(tmp_path: Path) -> None:
    base, nhwc = _trainer(tmp_path / "a"), _trainer(tmp_path / "b", "train.channels_last=true")
    conv = next(m for m in nhwc.task.D.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.parametrizations.weight.original.is_contiguous(memory_format=torch.channels_last)
    _losses(base, 2)
    _losses(nhwc, 2)
    for a, b in zip(_params(base), _params(nhwc), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=2e-4)


def test_fused_adam_takes_the_same_steps(tmp_path: Path) -> None:
    base, fused = _trainer(tmp_path / "a"), _trainer(tmp_path / "b", "train.fused_adam=true")
    assert fused.task.opt_g.defaults["fused"] is True
    _losses(base, 2)
    _losses(fused, 2)
    for a, b in zip(_params(base), _params(fused), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=2e-4)


def test_compiled_steps_match_eager(tmp_path: Path) -> None:
    """torch.compile of G's and D's training forwards (the MLP GAN: quickest to compile)."""
    small = ["model.hidden=[64,64]", "model.d_hidden=[32,32]", "model.dropout=0", "train.batch_size=16"]
    eager = _trainer(tmp_path / "a", *small, recipe="gan")
    try:
        compiled = _trainer(tmp_path / "b", *small, "train.compile=true", recipe="gan")
        _losses(compiled, 2)
    except Exception as exc:  # noqa: BLE001 - inductor needs a working C++ toolchain
        pytest.skip(f"torch.compile is unavailable here: {type(exc).__name__}: {str(exc)[:200]}")
    assert compiled.task.G_train is not compiled.task.G  # the compiled wrapper trains the same modules
    _losses(eager, 2)
    for a, b in zip(_params(eager), _params(compiled), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert "_orig_mod" not in "".join(compiled.state_dict()["G"])  # checkpoints stay portable


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_dataset_lives_on_the_gpu(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "train.device=cuda")
    assert trainer.task.dataset.images.is_cuda and trainer.task.dataset.images.dtype == torch.uint8
    images, _ = trainer.task.stream.next()
    assert images.is_cuda
