"""The FID InceptionV3: the TF `inception-2015-12-05` graph re-implemented in pure PyTorch.

FID, KID, precision/recall and the Inception Score are only comparable across papers when they
are computed with this exact network and input pipeline, so everything here mirrors the TF graph
(as ported by pytorch-fid and torch-fidelity) rather than torchvision's InceptionV3:

* the module names and shapes are those of pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`
  (torch-fidelity's `weights-inception-2015-12-05-6726825d.pth` uses the same names), so either
  file loads strictly;
* BatchNorm has eps 1e-3 and only weight/bias/running_mean/running_var (the files carry no
  `num_batches_tracked`);
* the pooling branches of the A, C and first E blocks average without counting the padding
  (TF's SAME average pool), and the last E block (Mixed_7c) max-pools, a quirk of that graph;
* images are resized to 299x299 with TF1's legacy `resize_bilinear` (no half-pixel centres), then
  mapped from 0..255 to (x - 128) / 128, as the graph does.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.checksums import file_sha256
from ganforge.errors import GanforgeError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_NAMES = (WEIGHTS_NAME, "weights-inception-2015-12-05-6726825d.pth")
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_NAME
)
WEIGHTS_ENV = "GANFORGE_INCEPTION_WEIGHTS"
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008
BN_EPS = 1e-3
# Offline machines must fail in seconds, not hang: the reachability probe (DNS + TCP connect)
# gets this long in all, and every socket operation of the download itself gets the second.
PROBE_TIMEOUT_S = 5.0
DOWNLOAD_SOCKET_TIMEOUT_S = 10.0


# ---------------------------------------------------------------------------------------------
# Input pipeline
# ---------------------------------------------------------------------------------------------


def _tf1_source_indices(
    in_size: int, out_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1 legacy sampling positions: src = dst * (in / out), all in float32 as TF computes it."""
    scale = torch.tensor(float(in_size), dtype=torch.float32) / float(out_size)
    src = torch.arange(out_size, dtype=torch.float32, device=device) * scale.to(device)
    src_floor = torch.floor(src)
    lower = src_floor.long().clamp(0, in_size - 1)
    upper = torch.ceil(src).long().clamp(0, in_size - 1)
    return lower, upper, src - src_floor


def tf1_resize_bilinear(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize exactly as TF1's `resize_bilinear(align_corners=False)`.

    TF1 samples the source at `dst * in/out` (no half-pixel offset), so it differs from
    `F.interpolate(..., align_corners=False)`; the FID graph uses TF1's variant. Interpolates along
    width first, then height, in the dtype of `images` (float32 in the graph).
    """
    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError("tf1_resize_bilinear expects a floating-point (N, C, H, W) tensor")
    out_h, out_w = size
    y_lo, y_hi, y_lerp = _tf1_source_indices(images.shape[2], out_h, images.device)
    x_lo, x_hi, x_lerp = _tf1_source_indices(images.shape[3], out_w, images.device)
    x_lerp = x_lerp.to(images.dtype).view(1, 1, 1, out_w)
    y_lerp = y_lerp.to(images.dtype).view(1, 1, out_h, 1)

    def along_width(rows: torch.Tensor) -> torch.Tensor:
        left = rows.index_select(3, x_lo)
        right = rows.index_select(3, x_hi)
        return left + (right - left) * x_lerp

    top = along_width(images.index_select(2, y_lo))
    bottom = along_width(images.index_select(2, y_hi))
    return top + (bottom - top) * y_lerp


def to_0_255(images: torch.Tensor) -> torch.Tensor:
    """uint8 as is, floats from ganforge's [-1, 1]; float32 on 0..255, clamped like a saved image.

    The [-1, 1] -> 0..255 map is computed in float64 so that `u / 127.5 - 1` comes back to `u`
    to float32 precision; clamping matches what storing samples as uint8 would do. Values are not
    rounded to integers: generated samples are measured as generated.
    """
    if images.dtype == torch.uint8:
        return images.to(torch.float32)
    if not images.is_floating_point():
        raise GanforgeError(
            f"Inception input must be float in [-1, 1] or uint8, got dtype {images.dtype}"
        )
    wide = torch.float32 if images.device.type == "mps" else torch.float64  # MPS has no float64
    return ((images.to(wide) + 1.0) * 127.5).clamp(0.0, 255.0).to(torch.float32)


# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with only the four tensors the weight files hold, always in inference mode.

    nn.BatchNorm2d would add `num_batches_tracked` to the state dict (the files have none) and
    would update its statistics if someone left the module in train mode.
    """

    def __init__(self, num_features: int, eps: float = BN_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=False,
            momentum=0.0,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BN -> ReLU: TF's conv2d + batchnorm node pair; keys `conv.*`, `bn.*`."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = FrozenBatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    """TF's 3x3 SAME average pool: border windows average only the real pixels."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b/c/d)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([self.branch1x1(x), b5, b3, bp], 1)


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction (Mixed_6a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b..e)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            bd = layer(bd)
        bp = self.branch_pool(_avg_pool_same(x))
        return torch.cat([self.branch1x1(x), b7, bd, bp], 1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction (Mixed_7a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block (Mixed_7b with a SAME average pool, Mixed_7c with a max pool as in the graph)."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "avg":
            pooled = _avg_pool_same(x)
        else:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """The network from a normalised 299x299 input to the 2048-d pool3 features.

    Attribute names are the weight file's key prefixes; `fc` (1008 classes, including the graph's
    8 unused ones) is kept for the Inception Score's logits.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_LOGITS)

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 299, 299) in [-1, 1] -> (N, 2048) global-average-pooled features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        return x.mean(dim=(2, 3))


class InceptionExtractor(FIDInceptionV3):
    """Images -> (pool3 features (N, 2048), unbiased logits (N, 1008)), both float32.

    The logits omit the fc bias, as torch-fidelity's `logits_unbiased`, which is what the
    Inception Score of the original TF code effectively uses.
    """

    name = "inception"
    resize = "tf1-bilinear-299"

    def __init__(self, weights_sha256: str = "") -> None:
        super().__init__()
        self.weights_sha256 = weights_sha256

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1|3, H, W) in [-1, 1] or uint8 -> (N, 3, 299, 299) as the graph feeds its convs."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise GanforgeError(
                f"Inception input must be (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}"
            )
        x = to_0_255(images)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = x.to(device=self.fc.weight.device, dtype=self.fc.weight.dtype)
        x = tf1_resize_bilinear(x, (INPUT_SIZE, INPUT_SIZE))
        return (x - 128.0) / 128.0

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.pool3(self.preprocess(images))
        logits = features @ self.fc.weight.T
        return features.to(torch.float32), logits.to(torch.float32)


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _one_line(text: object, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _how_to_supply() -> str:
    return (
        f"supply it with --inception-weights PATH, the {WEIGHTS_ENV} environment variable, "
        f"or put it in {_hub_checkpoints()}"
    )


def _probe(host: str, port: int, timeout: float) -> None:
    """Raise OSError unless `host:port` answers within `timeout` seconds (DNS included).

    DNS lookups ignore socket timeouts, so the probe runs in a daemon thread we stop waiting for.
    """
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            socket.getaddrinfo(host, port)
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except BaseException as exc:  # reported to the caller below
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True, name="ganforge-inception-probe")
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise OSError(f"{host} did not answer within {timeout:g} s")
    if outcome[0] is not None:
        raise OSError(f"cannot reach {host}: {outcome[0]}")


def _fetch_weights(dst: Path) -> None:
    """Download pytorch-fid's weights to `dst`, failing within seconds when offline."""
    _probe("github.com", 443, PROBE_TIMEOUT_S)
    dst.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(WEIGHTS_URL, str(dst), progress=True)
    finally:
        socket.setdefaulttimeout(previous)


def find_weights(weights: str | Path | None = None) -> Path:
    """The weight file: argument, then $GANFORGE_INCEPTION_WEIGHTS, then the hub cache, else download.

    An explicit path (argument or variable) that does not exist is an error rather than a silent
    fall-back, so a typo cannot quietly swap in other weights.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise GanforgeError(
                f"Inception weights file {path} does not exist (expected {WEIGHTS_NAME}); "
                + _how_to_supply()
            )
        return path
    from_env = os.environ.get(WEIGHTS_ENV, "").strip()
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise GanforgeError(
                f"{WEIGHTS_ENV}={from_env} is not a file (expected {WEIGHTS_NAME}); "
                + _how_to_supply()
            )
        return path
    checkpoints = _hub_checkpoints()
    for name in WEIGHTS_NAMES:
        if (checkpoints / name).is_file():
            return checkpoints / name
    dst = checkpoints / WEIGHTS_NAME
    try:
        _fetch_weights(dst)
    except Exception as exc:  # any failure means the same thing to the user
        raise GanforgeError(
            f"Inception weights missing: {WEIGHTS_NAME} was not found and could not be "
            f"downloaded ({_one_line(exc)}); " + _how_to_supply()
        ) from None
    return dst


def _check_keys(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """One-line GanforgeError naming the file if its tensors are not this network's."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        k
        for k in set(expected) & set(state)
        if not isinstance(state[k], torch.Tensor) or tuple(state[k].shape) != expected[k]
    )
    problems = [
        f"{label} {len(keys)} (e.g. {keys[0]})"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        )
        if keys
    ]
    if problems:
        raise GanforgeError(
            f"{path} is not the FID InceptionV3 weights ({WEIGHTS_NAME}): keys "
            + "; ".join(problems)
        )


def load_inception(
    weights: str | Path | None = None, device: str | torch.device = "cpu"
) -> InceptionExtractor:
    """The FID InceptionV3 with pytorch-fid's (or torch-fidelity's) weights, frozen, in eval mode."""
    path = find_weights(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable for whatever reason
        raise GanforgeError(f"cannot read Inception weights {path}: {_one_line(exc)}") from None
    if not isinstance(state, Mapping):
        raise GanforgeError(f"{path} is not a state dict (got {type(state).__name__})")
    # A file re-saved from a torchvision-style model carries BatchNorm counters; they mean nothing.
    state = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    extractor = InceptionExtractor()
    _check_keys(extractor, state, path)
    try:
        extractor.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise GanforgeError(f"cannot load Inception weights {path}: {_one_line(exc)}") from None
    extractor.weights_sha256 = file_sha256(path)
    return extractor.to(device).eval().requires_grad_(False)
