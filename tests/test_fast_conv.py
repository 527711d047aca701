"""`train.conv_algorithm=winograd`: Winograd F(4x4, 3x3), the patch GEMM and the low-resolution
shortcuts compute what torch's convolutions compute (forward and gradients) to float32 rounding,
are routed by shape, keep the models' parameters and checkpoints as they are, and train through
the Trainer and the CLI."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.models import build_models
from ganforge.nn import fast_conv
from ganforge.nn.fast_conv import choose, patch_gemm_conv3x3, use_conv_algorithm, winograd_conv3x3
from ganforge.objectives import get_objective
from ganforge.training.checkpoint import list_checkpoints, load_checkpoint


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max() / b.detach().abs().max())


def compare_with_torch(conv, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> list[float]:
    """Relative errors of output and of the gradients of x, w (and b) against F.conv2d."""
    leaves = [t for t in (x, w, b) if t is not None]
    for t in leaves:
        t.requires_grad_(True)
    gy = torch.randn(x.shape[0], w.shape[0], *x.shape[2:], generator=torch.Generator().manual_seed(1))
    ref = F.conv2d(x, w, b, padding=1)
    out = conv(x, w, b)
    ref_grads = torch.autograd.grad(ref, leaves, gy)
    grads = torch.autograd.grad(out, leaves, gy)
    return [relative_error(out, ref)] + [relative_error(g, r) for g, r in zip(grads, ref_grads, strict=True)]


@pytest.mark.parametrize("shape", [(3, 5, 7, 8, 12), (4, 256, 256, 16, 16), (5, 130, 140, 16, 20)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_winograd_equals_torch_conv_forward_and_backward(shape, with_bias, monkeypatch) -> None:
    # a chunk of 2 images: several chunks, the last one partial (3 and 5 images)
    n, c, k, h, w = shape
    monkeypatch.setattr(fast_conv, "CHUNK_BYTES", 2 * 36 * c * (h // 4) * (w // 4) * 4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, generator=gen)
    weight = torch.randn(k, c, 3, 3, generator=gen) / (9 * c) ** 0.5
    bias = torch.randn(k, generator=gen) if with_bias else None
    errors = compare_with_torch(winograd_conv3x3, x, weight, bias)
    assert max(errors) < 5e-5, errors


def test_winograd_gradients_pass_gradcheck_in_float64() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(winograd_conv3x3, (x, w, b))
    # and in float64 the algorithm is exact up to float64 rounding
    assert relative_error(winograd_conv3x3(x, w, b), F.conv2d(x, w, b, padding=1)) < 1e-12


def test_winograd_takes_channels_last_input_and_refuses_odd_sizes() -> None:
    x = torch.randn(2, 16, 8, 8).contiguous(memory_format=torch.channels_last)
    w = torch.randn(8, 16, 3, 3)
    assert relative_error(winograd_conv3x3(x, w), F.conv2d(x, w, padding=1)) < 5e-5
    with pytest.raises(ValueError, match="divisible by 4"):
        winograd_conv3x3(torch.randn(1, 4, 14, 16), torch.randn(4, 4, 3, 3))


def test_winograd_without_recorded_gradients_saves_nothing() -> None:
    x, w = torch.randn(2, 8, 8, 8), torch.randn(8, 8, 3, 3, requires_grad=True)
    with torch.no_grad():
        y = winograd_conv3x3(x, w)
    assert not y.requires_grad and y.grad_fn is None


@pytest.mark.parametrize("channels", [1, 3])
def test_patch_gemm_equals_torch_conv(channels) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, channels, 10, 6, generator=gen)
    w = torch.randn(16, channels, 3, 3, generator=gen)
    for bias in (torch.randn(16, generator=gen), None):
        errors = compare_with_torch(patch_gemm_conv3x3, x.clone(), w.clone(), bias)
        assert max(errors) < 1e-5, errors


def test_routing_by_shape() -> None:
    def route(c: int, k: int, size: int, dtype: torch.dtype = torch.float32) -> str:
        return choose(torch.empty(2, c, size, size, dtype=dtype), torch.empty(k, c, 3, 3, dtype=dtype))

    assert route(3, 256, 32) == "gemm"  # RGB images into D
    assert route(1, 16, 32) == "gemm"  # grey images
    assert route(256, 256, 32) == "winograd"
    assert route(128, 128, 16) == "winograd"
    assert route(256, 3, 32) == "torch"  # G's output layer: 3 channels out
    assert route(64, 64, 32) == "torch"  # narrow: the transforms cost more than they save
    assert route(256, 256, 8) == "torch"  # small maps
    assert route(256, 256, 28) == "winograd"
    assert route(256, 256, 30) == "torch"  # not divisible by 4
    assert route(256, 256, 32, torch.float64) == "torch"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert route(256, 256, 32) == "torch"  # bf16 products would ruin the transforms


def digits_models():
    torch.manual_seed(0)
    return build_models(api.make_config("biggan-digits", []).model)


def test_routing_a_biggan_keeps_parameters_and_matches_torch(monkeypatch) -> None:
    # lower the thresholds so that the narrow digits networks go through Winograd
    monkeypatch.setattr(fast_conv, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(fast_conv, "WINOGRAD_MIN_SIZE", 4)
    G, D = digits_models()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    eligible = sum(fast_conv.eligible(m) for m in list(G2.modules()) + list(D2.modules()))
    assert use_conv_algorithm(G2, "winograd") + use_conv_algorithm(D2, "winograd") == eligible > 6
    assert G2.state_dict().keys() == G.state_dict().keys()
    used = []
    for conv in (m for m in D2.modules() if fast_conv.eligible(m)):
        conv.register_forward_hook(lambda mod, args, out: used.append(choose(args[0], mod.weight)))

    z, y = torch.randn(8, G.dim_z), torch.arange(8) % 10
    hinge = get_objective("hinge")
    losses, grads = [], []
    for g_net, d_net in ((G, D), (G2, D2)):
        loss = hinge.g_loss(d_net(g_net(z, y), y))
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad for p in list(g_net.parameters()) + list(d_net.parameters())])
    assert {"gemm", "winograd"} <= set(used)
    assert relative_error(losses[1], losses[0]) < 1e-5
    # conditional BN's backward over a batch of 8 amplifies float32 rounding through 3 blocks:
    # torch's and Winograd's gradients agree to ~2e-3 of each tensor's largest entry; a wrong
    # transform or a dropped overlap would be off by O(1)
    # (conv biases right before a BN get an analytically zero gradient: only rounding; skipped)
    scale = max(g.abs().max().item() for g in grads[0] if g is not None)
    errors = [relative_error(fast, ref) for ref, fast in zip(*grads, strict=True)
              if ref is not None and ref.abs().max() > 1e-5 * scale]
    assert len(errors) > 20 and max(errors) < 1e-2, max(errors)

    # G_ema is a deep copy: the routing travels with it; routing back restores torch's kernel
    routed = [m for m in copy.deepcopy(G2).modules() if fast_conv.eligible(m)]
    assert all("_conv_forward" in m.__dict__ for m in routed)
    blocks = [m for m in list(G2.modules()) + list(D2.modules()) if hasattr(m, "low_res_shortcut")]
    assert len(blocks) == 7 and all(b.low_res_shortcut for b in blocks)  # 3 G + 4 D blocks
    use_conv_algorithm(G2, "torch")
    assert not any("_conv_forward" in m.__dict__ for m in G2.modules())
    assert not any(b.low_res_shortcut for b in G2.modules() if hasattr(b, "low_res_shortcut"))
    with pytest.raises(ValueError, match="unknown conv algorithm"):
        use_conv_algorithm(G2, "fft")


def test_trainer_refuses_combinations_it_cannot_run() -> None:
    for extra, clash in ((["train.precision=bf16"], "train.precision=bf16"),
                         (["train.compile=true"], "train.compile=true")):
        config = api.make_config("biggan-digits", ["train.conv_algorithm=winograd", *extra], steps=1)
        with pytest.raises(GanforgeError, match=clash):
            api.train(config, None)
    with pytest.raises(GanforgeError, match="unknown train.conv_algorithm 'fft'"):
        api.train(api.make_config("biggan-digits", ["train.conv_algorithm=fft"], steps=1), None)


def test_cli_trains_and_resumes_with_winograd_and_its_weights_load_anywhere(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(fast_conv, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(fast_conv, "WINOGRAD_MIN_SIZE", 4)
    run = tmp_path / "run"
    args = ["--batch-size", "8", "--checkpoint-every", "2", "--no-progress"]
    assert main(["train", "--out", str(run), "--steps", "2", "train.conv_algorithm=winograd", *args]) == 0
    assert main(["train", "--resume", str(run), "--steps", "4", "--no-progress"]) == 0
    state = load_checkpoint(list_checkpoints(run / "checkpoints")[-1])
    assert state["step"] == 4 and state["config"]["train"]["conv_algorithm"] == "winograd"
    assert all(torch.isfinite(t).all() for t in state["G"].values() if t.is_floating_point())
    G, D = digits_models()  # torch's kernels: the same parameters, nothing to convert
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
