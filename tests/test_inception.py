"""The FID InceptionV3 port: weight-file layout, TF1 input pipeline, outputs, and weight lookup.

The real weights are not available offline, so a state dict with the public key names and shapes
(random values) stands in for `pt_inception-2015-12-05-6726825d.pth`.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import ganforge.metrics.inception as inception
from ganforge.errors import GanforgeError
from ganforge.metrics.inception import (
    WEIGHTS_ENV,
    WEIGHTS_NAME,
    InceptionExtractor,
    load_inception,
    tf1_resize_bilinear,
)


def random_public_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Public key names/shapes with values that keep activations O(1) through 94 conv layers."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in InceptionExtractor().state_dict().items():
        shape = value.shape
        if key.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            tensor = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
        elif key.endswith("running_var"):
            tensor = torch.rand(shape, generator=gen) + 0.5
        elif key.endswith("bn.weight"):
            tensor = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif key == "fc.weight":
            tensor = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        else:  # bn.bias, running_mean, fc.bias
            tensor = 0.1 * torch.randn(shape, generator=gen)
        state[key] = tensor.contiguous()
    return state


@pytest.fixture(scope="module")
def public_state() -> dict[str, torch.Tensor]:
    return random_public_state_dict()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory, public_state: dict) -> Path:
    path = tmp_path_factory.mktemp("weights") / WEIGHTS_NAME
    torch.save(public_state, path)
    return path


@pytest.fixture(scope="module")
def extractor(weights_file: Path) -> InceptionExtractor:
    return load_inception(weights_file)


@pytest.fixture(scope="module")
def rgb_uint8() -> torch.Tensor:
    return torch.randint(
        0, 256, (2, 3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8
    )


@pytest.fixture(scope="module")
def rgb_outputs(
    extractor: InceptionExtractor, rgb_uint8: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return extractor(rgb_uint8.float() / 127.5 - 1.0)


@pytest.fixture
def no_weights_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No env var and an empty hub dir; returns the (empty) checkpoints dir."""
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


# --- the weight file's layout ----------------------------------------------------------------


def test_state_dict_matches_public_file_layout() -> None:
    state = InceptionExtractor().state_dict()
    # The file holds 94 conv+BN units x (conv.weight, bn.weight, bn.bias, bn.running_mean,
    # bn.running_var) + fc.weight + fc.bias = 472 tensors, no num_batches_tracked; 23,885,392 is
    # the element count of all of them (running statistics included).
    assert len(state) == 472
    assert sum(v.numel() for v in state.values()) == 23_885_392
    assert not any("num_batches_tracked" in k for k in state)
    learnable = sum(p.numel() for p in InceptionExtractor().parameters())
    running = sum(
        v.numel() for k, v in state.items() if k.endswith(("running_mean", "running_var"))
    )
    assert learnable + running == 23_885_392
    assert state["fc.weight"].shape == (1008, 2048) and state["fc.bias"].shape == (1008,)
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)
    assert state["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    assert state["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    bn = InceptionExtractor().Conv2d_1a_3x3.bn
    assert bn.eps == pytest.approx(1e-3)


def test_fid_specific_pooling_variants() -> None:
    net = InceptionExtractor()
    assert net.Mixed_7b.pool == "avg" and net.Mixed_7c.pool == "max"
    x = torch.ones(1, 1, 3, 3)
    # TF's SAME average pool ignores padding: a constant map stays constant at the border.
    torch.testing.assert_close(inception._avg_pool_same(x), x)


def test_load_is_strict_frozen_and_hashes_the_file(
    extractor: InceptionExtractor, weights_file: Path, public_state: dict
) -> None:
    for key, value in extractor.state_dict().items():
        assert torch.equal(value, public_state[key]), key
    assert extractor.weights_sha256 == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert not extractor.training
    assert not any(p.requires_grad for p in extractor.parameters())
    assert extractor.name == "inception" and extractor.resize == "tf1-bilinear-299"


def test_mismatched_state_dict_names_the_file(tmp_path: Path, public_state: dict) -> None:
    state = dict(public_state)
    del state["Mixed_6c.branch7x7_2.bn.running_var"]
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(GanforgeError, match="broken.pth") as info:
        load_inception(path)
    assert "Mixed_6c.branch7x7_2.bn.running_var" in str(info.value)
    assert "\n" not in str(info.value)


def test_num_batches_tracked_keys_are_tolerated(tmp_path: Path, public_state: dict) -> None:
    state = dict(public_state)
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(0)
    path = tmp_path / "resaved.pth"
    torch.save(state, path)
    assert len(load_inception(path).state_dict()) == 472


# --- the TF1 resize and scaling --------------------------------------------------------------


def test_tf1_resize_closed_form() -> None:
    ramp = torch.tensor([1.0, 3.0]).view(1, 1, 1, 2)
    # TF1 legacy: src = dst * in/out = 0, .5, 1, 1.5 (clamped) -> [v0, (v0+v1)/2, v1, v1].
    torch.testing.assert_close(
        tf1_resize_bilinear(ramp, (1, 4)), torch.tensor([1.0, 2.0, 3.0, 3.0]).view(1, 1, 1, 4)
    )
    half_pixel = F.interpolate(ramp, size=(1, 4), mode="bilinear", align_corners=False)
    torch.testing.assert_close(half_pixel, torch.tensor([1.0, 1.5, 2.5, 3.0]).view(1, 1, 1, 4))
    # Downscaling samples src = 0, 2 (no averaging).
    four = torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 4, 1)
    torch.testing.assert_close(
        tf1_resize_bilinear(four, (2, 1)), torch.tensor([0.0, 2.0]).view(1, 1, 2, 1)
    )
    # 2-D: the centre of a 2x2 -> 4x4 upsample is the mean of the four pixels.
    square = torch.tensor([[1.0, 2.0], [5.0, 10.0]]).view(1, 1, 2, 2)
    out = tf1_resize_bilinear(square, (4, 4))
    assert out[0, 0, 1, 1].item() == pytest.approx(4.5)
    assert out[0, 0, 3, 3].item() == pytest.approx(10.0)


def test_tf1_resize_matches_scalar_reference() -> None:
    """The vectorised resize against a direct transcription of TF1's per-pixel loop."""
    img = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(2))
    out_h, out_w = 11, 3
    got = tf1_resize_bilinear(img, (out_h, out_w))
    ref = torch.empty(2, 3, out_h, out_w)
    sy, sx = 5 / out_h, 7 / out_w
    for i in range(out_h):
        y = i * sy
        y0, y1 = math.floor(y), min(math.ceil(y), 4)
        for j in range(out_w):
            x = j * sx
            x0, x1 = math.floor(x), min(math.ceil(x), 6)
            top = img[..., y0, x0] + (img[..., y0, x1] - img[..., y0, x0]) * (x - x0)
            bottom = img[..., y1, x0] + (img[..., y1, x1] - img[..., y1, x0]) * (x - x0)
            ref[..., i, j] = top + (bottom - top) * (y - y0)
    torch.testing.assert_close(got, ref)
    same = torch.randn(1, 1, 299, 299)
    assert torch.equal(tf1_resize_bilinear(same, (299, 299)), same)


def test_scaling_to_tf_graph_range(extractor: InceptionExtractor) -> None:
    low = extractor.preprocess(torch.full((1, 3, 8, 8), -1.0))
    high = extractor.preprocess(torch.full((1, 1, 8, 8), 1.0))
    assert low.shape == (1, 3, 299, 299) and high.shape == (1, 3, 299, 299)
    assert torch.all(low == (0.0 - 128.0) / 128.0)
    assert torch.all(high == (255.0 - 128.0) / 128.0)
    u8 = extractor.preprocess(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2))
    assert u8.min().item() == -1.0 and u8.max().item() == 127.0 / 128.0


def test_grey_preprocessing_repeats_channels(extractor: InceptionExtractor) -> None:
    grey = torch.rand(2, 1, 20, 24) * 2 - 1
    torch.testing.assert_close(
        extractor.preprocess(grey), extractor.preprocess(grey.repeat(1, 3, 1, 1))
    )


def test_bad_input_shape_is_a_clear_error(extractor: InceptionExtractor) -> None:
    with pytest.raises(GanforgeError, match="shape"):
        extractor.preprocess(torch.zeros(2, 4, 8, 8))


# --- outputs ---------------------------------------------------------------------------------


def test_rgb_outputs_and_unbiased_logits(
    extractor: InceptionExtractor, rgb_outputs: tuple[torch.Tensor, torch.Tensor]
) -> None:
    features, logits = rgb_outputs
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert features.dtype == torch.float32 and logits.dtype == torch.float32
    assert torch.isfinite(features).all() and features.abs().mean() > 1e-3
    torch.testing.assert_close(logits, features @ extractor.fc.weight.T)
    assert not torch.allclose(logits, features @ extractor.fc.weight.T + extractor.fc.bias)


def test_uint8_input_equals_float_input(
    extractor: InceptionExtractor,
    rgb_uint8: torch.Tensor,
    rgb_outputs: tuple[torch.Tensor, torch.Tensor],
) -> None:
    with torch.no_grad():
        features, logits = extractor(rgb_uint8)
    torch.testing.assert_close(features, rgb_outputs[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits, rgb_outputs[1], rtol=1e-4, atol=1e-5)


def test_grey_outputs(extractor: InceptionExtractor) -> None:
    with torch.no_grad():
        features, logits = extractor(torch.rand(2, 1, 32, 32) * 2 - 1)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(features).all()


# --- finding the weights ---------------------------------------------------------------------


def test_hub_cache_accepts_torch_fidelity_name(
    weights_file: Path, no_weights_anywhere: Path
) -> None:
    no_weights_anywhere.mkdir(parents=True)
    (no_weights_anywhere / "weights-inception-2015-12-05-6726825d.pth").symlink_to(weights_file)
    assert len(load_inception().state_dict()) == 472


def test_env_var_is_used(weights_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(weights_file))
    assert inception.find_weights() == weights_file


def test_env_var_to_missing_file_is_a_one_line_error(
    tmp_path: Path, no_weights_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nope.pth"))
    monkeypatch.setattr(inception, "_fetch_weights", _no_download)
    start = time.monotonic()
    with pytest.raises(GanforgeError) as info:
        load_inception()
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "\n" not in message and WEIGHTS_NAME in message and "nope.pth" in message


def test_missing_weights_is_a_fast_one_line_error(
    no_weights_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inception, "_probe", lambda *args: None)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    start = time.monotonic()
    with pytest.raises(GanforgeError) as info:
        load_inception()
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "\n" not in message
    assert "missing" in message and WEIGHTS_NAME in message
    assert "--inception-weights" in message and WEIGHTS_ENV in message
    assert str(no_weights_anywhere) in message


def test_download_gives_up_quickly_when_dns_hangs(
    no_weights_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hanging_dns(*args: object, **kwargs: object) -> None:
        time.sleep(3)
        raise OSError("no DNS in this test")

    monkeypatch.setattr(inception, "PROBE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(inception.socket, "getaddrinfo", hanging_dns)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    start = time.monotonic()
    with pytest.raises(GanforgeError, match="did not answer"):
        load_inception()
    assert time.monotonic() - start < 2


def _no_download(*args: object, **kwargs: object) -> None:
    raise OSError("network disabled in tests")
