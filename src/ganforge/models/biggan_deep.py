"""BigGAN-deep generator (Brock et al. 2019, appendix B) laid out like the public checkpoints.

The only public BigGAN-deep weights are the `biggan-deep-{128,256,512}` conversions of the TF Hub
modules (huggingface/pytorch-pretrained-BigGAN). This module has the same state-dict key names
and shapes, so a checkpoint loads with `load_state_dict(strict=True)`; see
`biggan_deep_checkpoint.load_biggan_deep` for the checked loader.

Inference only: batch norm always uses the statistics stored per truncation level, and spectral
norm uses the stored u and v without power iteration (torch's `spectral_norm` in eval mode).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models.biggan import upsample_nearest

Layer = tuple[bool, int, int]  # (upsample?, in channels / channel_width, out channels / width)

_LAYERS_128: tuple[Layer, ...] = (
    (False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
    (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1),
)
_LAYERS_256: tuple[Layer, ...] = (
    *_LAYERS_128[:5], (True, 8, 8), (False, 8, 8), *_LAYERS_128[5:],
)
_LAYERS_512: tuple[Layer, ...] = (*_LAYERS_256, (False, 1, 1), (True, 1, 1))


@dataclass(frozen=True)
class BigGANDeepConfig:
    """The fields of the checkpoints' `config.json`, with the same names and meaning.

    `layers` lists the residual blocks as (upsample, in_mult, out_mult), widths in units of
    `channel_width`; self-attention runs just before block `attention_layer_position`. `eps` is
    the batch-norm epsilon; `n_stats` the number of stored truncation levels (0, 1/(n-1), ..., 1).
    """

    output_dim: int = 128
    z_dim: int = 128
    class_embed_dim: int = 128
    channel_width: int = 128
    num_classes: int = 1000
    layers: tuple[Layer, ...] = field(default=_LAYERS_128)
    attention_layer_position: int = 8
    eps: float = 1e-4
    n_stats: int = 51

    @classmethod
    def preset(cls, resolution: int) -> BigGANDeepConfig:
        """The configuration of the public `biggan-deep-<resolution>` checkpoint."""
        if resolution not in PRESETS:
            raise GanforgeError(
                f"no biggan-deep preset for {resolution}px; choose one of {sorted(PRESETS)}"
            )
        return PRESETS[resolution]

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> BigGANDeepConfig:
        """Parse and validate a `config.json` dict; errors name `source` and the bad key."""
        if not isinstance(data, dict):
            raise GanforgeError(f"{source}: expected a JSON object, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]  # unknown extra keys are metadata: ignored
        if missing:
            raise GanforgeError(f"{source}: missing key(s) {', '.join(missing)}; "
                                "use the config.json that came with the weights")
        values: dict[str, Any] = {}
        for name in names:
            value = data[name]
            if name == "eps":
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            elif name == "layers":
                value = _parse_layers(value, source)
                ok = True
            else:
                ok = isinstance(value, int) and not isinstance(value, bool)
            if not ok:
                raise GanforgeError(f"{source}: '{name}' has the invalid value {value!r}")
            values[name] = value
        config = cls(**values)
        config.validate(source)
        return config

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of `config.json` (layers as lists)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["layers"] = [list(layer) for layer in self.layers]
        return out

    def validate(self, source: str = "config") -> None:
        """Reject configurations that cannot make a consistent network, naming the key."""
        def bad(key: str, why: str) -> GanforgeError:
            return GanforgeError(f"{source}: '{key}' {why}")

        for key in ("z_dim", "class_embed_dim", "channel_width", "num_classes"):
            if getattr(self, key) < 1:
                raise bad(key, "must be a positive integer")
        if self.n_stats < 2:
            raise bad("n_stats", f"must be at least 2 (levels 0 and 1), got {self.n_stats}")
        if not self.layers:
            raise bad("layers", "must list at least one block")
        ups = sum(up for up, _, _ in self.layers)
        if 4 * 2**ups != self.output_dim:
            raise bad("output_dim", f"is {self.output_dim} but the {ups} upsampling layers "
                      f"make {4 * 2**ups}px images")
        for i, (_, c_in, c_out) in enumerate(self.layers):
            if i and c_in != self.layers[i - 1][2]:
                raise bad("layers", f"entry {i} takes in_mult {c_in} but entry {i - 1} gives "
                          f"{self.layers[i - 1][2]}")
            if not 0 < c_out <= c_in:
                raise bad("layers", f"entry {i}: out_mult must be in 1..in_mult (the skip "
                          f"connection can only drop channels), got {c_out} > {c_in}")
            if (c_in * self.channel_width) % 4:
                raise bad("layers", f"entry {i}: {c_in * self.channel_width} input channels "
                          "are not divisible by 4 (bottleneck width)")
        pos = self.attention_layer_position
        if not 0 <= pos < len(self.layers):
            raise bad("attention_layer_position", f"must be in 0..{len(self.layers) - 1}")
        if (self.layers[pos][1] * self.channel_width) % 8:
            raise bad("attention_layer_position", "points at a layer whose channel count is "
                      "not divisible by 8 (attention keys are channels/8)")
        if self.layers[-1][2] * self.channel_width < 3:
            raise bad("channel_width", "leaves fewer than 3 output channels for RGB")


def _parse_layers(value: Any, source: str) -> tuple[Layer, ...]:
    if not isinstance(value, (list, tuple)):
        raise GanforgeError(f"{source}: 'layers' must be a list of [upsample, in_mult, out_mult]")
    layers = []
    for i, item in enumerate(value):
        ok = (isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[0], bool)
              and all(isinstance(m, int) and not isinstance(m, bool) for m in item[1:]))
        if not ok:
            raise GanforgeError(f"{source}: 'layers' entry {i} must be [upsample (bool), "
                                f"in_mult (int), out_mult (int)], got {item!r}")
        layers.append((item[0], item[1], item[2]))
    return tuple(layers)


PRESETS: dict[int, BigGANDeepConfig] = {
    128: BigGANDeepConfig(output_dim=128, layers=_LAYERS_128),
    256: BigGANDeepConfig(output_dim=256, layers=_LAYERS_256),
    512: BigGANDeepConfig(output_dim=512, layers=_LAYERS_512),
}


# ---- truncation levels -------------------------------------------------------------------


class TruncationLevel(NamedTuple):
    """Stored level `index` and the weight `frac` of level index+1 (0 means exactly `index`)."""

    index: int
    frac: float


def truncation_level(truncation: float, n_stats: int) -> TruncationLevel:
    """Where `truncation` in (0, 1] falls among the levels 0, 1/(n_stats-1), ..., 1."""
    if isinstance(truncation, torch.Tensor) and truncation.numel() == 1:
        truncation = truncation.item()
    if isinstance(truncation, bool) or not isinstance(truncation, numbers.Real):
        raise GanforgeError(f"truncation must be a number in (0, 1], got {truncation!r}")
    truncation = float(truncation)
    if not 0 < truncation <= 1:  # also rejects NaN
        raise GanforgeError(f"truncation must be in (0, 1] (it picks the stored batch-norm "
                            f"statistics; sample z with the same value), got {truncation}")
    position = truncation * (n_stats - 1)
    nearest = round(position)
    if abs(position - nearest) < 1e-6:  # 0.4 * 50 may come out as 20.000000000000004
        return TruncationLevel(nearest, 0.0)
    index = math.floor(position)
    return TruncationLevel(index, position - index)


def interpolate_stats(stats: torch.Tensor, level: TruncationLevel) -> torch.Tensor:
    """(1 - frac) * stats[i] + frac * stats[i + 1]; exactly stats[i] when frac is 0.

    pytorch-pretrained-BigGAN weights the two levels the other way round (frac * stats[i] +
    (1 - frac) * stats[i + 1]), so between levels its statistics lean towards the farther level.
    On the stored levels the two agree except where its `math.modf(t / 0.02)` misses the level
    by float rounding: at 0.14, 0.28 and 0.56 the fraction comes out ~1e-15 and it uses the next
    level (0.16, 0.30, 0.58); at 0.58 and 0.94 it comes out ~1 - 1e-15 and it uses the previous
    one (0.56, 0.92). ganforge snaps positions within 1e-6 of a level onto it (`truncation_level`).
    """
    if level.frac == 0.0:
        return stats[level.index]
    return torch.lerp(stats[level.index], stats[level.index + 1], level.frac)


# ---- layers ------------------------------------------------------------------------------


def spectral_normalize(
    weight_orig: torch.Tensor, u: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """weight_orig / (u . W v): what torch's `spectral_norm` computes in eval mode.

    Kept in float32 under autocast, so sigma is never estimated in half precision.
    """
    with torch.autocast(weight_orig.device.type, enabled=False):
        sigma = torch.dot(u, torch.mv(weight_orig.reshape(weight_orig.shape[0], -1), v))
        return weight_orig / sigma


class SNLayer(nn.Module):
    """A weight stored the way torch's `spectral_norm` stores it: weight_orig, weight_u, weight_v.

    `bake()` caches the normalised weight (a non-persistent buffer, so it follows `.to()` but is
    not saved); it must be redone after the stored tensors change.
    """

    def __init__(self, weight_shape: tuple[int, ...], bias: bool) -> None:
        super().__init__()
        out, fan_in = weight_shape[0], math.prod(weight_shape[1:])
        if bias:  # registered first: the checkpoints list bias before weight_orig
            self.bias = nn.Parameter(torch.zeros(out))
        else:
            self.bias = None
        self.weight_orig = nn.Parameter(torch.empty(weight_shape).normal_(0.0, 0.02))
        # a few power iterations (skipped on the meta device), so an untrained model's sigma is
        # near the true norm; a checkpoint's stored u and v replace these
        matrix = self.weight_orig.detach().reshape(out, fan_in)
        u = F.normalize(torch.randn(out), dim=0)
        v = F.normalize(torch.randn(fan_in), dim=0)
        for _ in range(0 if matrix.is_meta else 3):
            v = F.normalize(torch.mv(matrix.t(), u), dim=0)
            u = F.normalize(torch.mv(matrix, v), dim=0)
        self.register_buffer("weight_u", u)
        self.register_buffer("weight_v", v)
        self.register_buffer("weight_baked", None, persistent=False)

    def weight(self) -> torch.Tensor:
        if self.weight_baked is not None:
            return self.weight_baked
        return spectral_normalize(self.weight_orig, self.weight_u, self.weight_v)

    @torch.no_grad()
    def bake(self) -> None:
        self.weight_baked = None
        self.weight_baked = self.weight().detach()

    def unbake(self) -> None:
        self.weight_baked = None


class SNLinear(SNLayer):
    def __init__(self, n_in: int, n_out: int, bias: bool = True) -> None:
        super().__init__((n_out, n_in), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(), self.bias)


class SNConv2d(SNLayer):
    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool = True) -> None:
        super().__init__((c_out, c_in, kernel, kernel), bias)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, keep: int | None = None) -> torch.Tensor:
        """`keep`: compute only the first `keep` output channels (sigma still uses all of W)."""
        weight, bias = self.weight(), self.bias
        if keep is not None:
            weight, bias = weight[:keep], None if bias is None else bias[:keep]
        return F.conv2d(x, weight, bias, padding=self.padding)


class TruncationBatchNorm(nn.Module):
    """BN with running statistics stored per truncation level, shape (n_stats, channels).

    Conditional: out = BN(x) * (1 + scale(c)) + offset(c) with bias-free SN linears of the
    condition c. Unconditional (the output BN): plain per-channel weight and bias.
    """

    def __init__(self, channels: int, n_stats: int, eps: float, cond_dim: int = 0) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("running_means", torch.zeros(n_stats, channels))
        self.register_buffer("running_vars", torch.ones(n_stats, channels))
        if cond_dim:
            self.scale = SNLinear(cond_dim, channels, bias=False)
            self.offset = SNLinear(cond_dim, channels, bias=False)
        else:
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))

    def forward(
        self, x: torch.Tensor, level: TruncationLevel, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        mean = interpolate_stats(self.running_means, level)
        inv_std = torch.rsqrt(interpolate_stats(self.running_vars, level) + self.eps)
        if cond is None:
            gain, offset = (inv_std * self.weight)[None], self.bias[None]
        else:
            gain, offset = inv_std * (1 + self.scale(cond)), self.offset(cond)
        shift = offset - mean * gain  # x * gain + shift == (x - mean) * gain + offset
        return torch.addcmul(shift[:, :, None, None], x, gain[:, :, None, None])


class BottleneckBlock(nn.Module):
    """BN-ReLU-conv1x1 (C -> C/4), [up], 2x (BN-ReLU-conv3x3), BN-ReLU-conv1x1 (-> C_out).

    The skip keeps identity: it drops the trailing channels when narrowing (keeps the first
    C_out) and is upsampled with the main path. pytorch-pretrained-BigGAN keeps the first C_in/2
    channels whenever the widths differ: the same thing for every public config (C_out = C_in/2).
    """

    def __init__(
        self, c_in: int, c_out: int, up: bool, cond_dim: int, n_stats: int, eps: float
    ) -> None:
        super().__init__()
        mid = c_in // 4
        self.up, self.c_out = up, c_out
        for i, (a, b, k) in enumerate([(c_in, mid, 1), (mid, mid, 3), (mid, mid, 3), (mid, c_out, 1)]):
            setattr(self, f"bn_{i}", TruncationBatchNorm(a, n_stats, eps, cond_dim))
            setattr(self, f"conv_{i}", SNConv2d(a, b, k))

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor, level: TruncationLevel
    ) -> torch.Tensor:
        h = self.conv_0(F.relu(self.bn_0(x, level, cond)))
        h = F.relu(self.bn_1(h, level, cond))
        if self.up:
            h = upsample_nearest(h)
        h = self.conv_1(h)
        h = self.conv_2(F.relu(self.bn_2(h, level, cond)))
        h = self.conv_3(F.relu(self.bn_3(h, level, cond)))
        skip = x[:, : self.c_out]
        if self.up:
            skip = upsample_nearest(skip)
        return h + skip


class DeepSelfAttention(nn.Module):
    """SAGAN attention with the checkpoints' names: theta, phi (C/8), g (C/2), o_conv; no biases.

    phi and g are max-pooled 2x2; logits are raw dot products (no 1/sqrt(d)).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.snconv1x1_theta = SNConv2d(channels, channels // 8, 1, bias=False)
        self.snconv1x1_phi = SNConv2d(channels, channels // 8, 1, bias=False)
        self.snconv1x1_g = SNConv2d(channels, channels // 2, 1, bias=False)
        self.snconv1x1_o_conv = SNConv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        query = self.snconv1x1_theta(x).flatten(2).transpose(1, 2)
        key = F.max_pool2d(self.snconv1x1_phi(x), 2).flatten(2).transpose(1, 2)
        value = F.max_pool2d(self.snconv1x1_g(x), 2).flatten(2).transpose(1, 2)
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        attended = attended.transpose(1, 2).reshape(b, c // 2, h, w)
        return x + self.gamma * self.snconv1x1_o_conv(attended)


class _Generator(nn.Module):
    """Everything after the class embedding; named `generator` in the checkpoints."""

    def __init__(self, config: BigGANDeepConfig) -> None:
        super().__init__()
        ch, cond_dim = config.channel_width, config.z_dim + config.class_embed_dim
        self.start_channels = config.layers[0][1] * ch
        self.gen_z = SNLinear(cond_dim, 4 * 4 * self.start_channels)
        layers: list[nn.Module] = []
        for i, (up, c_in, c_out) in enumerate(config.layers):
            if i == config.attention_layer_position:
                layers.append(DeepSelfAttention(c_in * ch))
            layers.append(
                BottleneckBlock(c_in * ch, c_out * ch, up, cond_dim, config.n_stats, config.eps)
            )
        self.layers = nn.ModuleList(layers)
        out_channels = config.layers[-1][2] * ch
        self.bn = TruncationBatchNorm(out_channels, config.n_stats, config.eps)
        self.conv_to_rgb = SNConv2d(out_channels, out_channels, 3)  # only the first 3 are used

    def forward(self, cond: torch.Tensor, level: TruncationLevel) -> torch.Tensor:
        # the TF checkpoints order the linear's outputs as (4, 4, C): channels last
        h = self.gen_z(cond).view(cond.shape[0], 4, 4, self.start_channels)
        h = h.permute(0, 3, 1, 2).contiguous()
        for layer in self.layers:
            h = layer(h, cond, level) if isinstance(layer, BottleneckBlock) else layer(h)
        h = F.relu(self.bn(h, level))
        return torch.tanh(self.conv_to_rgb(h, keep=3))


class BigGANDeep(nn.Module):
    """The BigGAN-deep generator: z (N, z_dim) and a class -> images in [-1, 1].

    The condition is concat(z, embeddings(class)) for the input linear and every conditional BN
    (no hierarchical split of z). The class embedding is a bias-free linear of a class vector,
    so float class vectors (one-hot, or a mix of two classes) interpolate between classes.
    pytorch-pretrained-BigGAN sizes the embedding with z_dim; here it is class_embed_dim (equal
    in all public configs).
    """

    def __init__(self, config: BigGANDeepConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.dim_z = config.z_dim
        self.n_classes = config.num_classes
        self.resolution = config.output_dim
        self.embeddings = nn.Linear(config.num_classes, config.class_embed_dim, bias=False)
        self.generator = _Generator(config)
        self.eval()

    def embed(self, y: torch.Tensor, batch: int) -> torch.Tensor:
        """Class embeddings for ids (N,) or float class vectors (N, num_classes)."""
        weight = self.embeddings.weight
        if y.is_floating_point():
            if y.shape != (batch, self.n_classes):
                raise GanforgeError(f"class vectors must have shape ({batch}, {self.n_classes}), "
                                    f"got {tuple(y.shape)}")
            return F.linear(y.to(weight.dtype), weight)
        if y.shape != (batch,) or y.dtype == torch.bool:
            raise GanforgeError(f"class ids must be an integer tensor of shape ({batch},), "
                                f"got {y.dtype} {tuple(y.shape)}")
        if batch and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise GanforgeError(f"class ids must be in 0..{self.n_classes - 1}")
        return weight.t()[y]

    def forward(self, z: torch.Tensor, y: torch.Tensor, truncation: float) -> torch.Tensor:
        """Images (N, 3, resolution, resolution); truncation in (0, 1] picks the BN statistics."""
        level = truncation_level(truncation, self.config.n_stats)
        if z.dim() != 2 or z.shape[1] != self.dim_z:
            raise GanforgeError(f"z must have shape (N, {self.dim_z}), got {tuple(z.shape)}")
        cond = torch.cat([z, self.embed(y, z.shape[0]).to(z.dtype)], dim=1)
        return self.generator(cond, level)

    def bake(self) -> BigGANDeep:
        """Cache every spectrally-normalised weight (skips 40+ divisions of the weights per call).

        Redo it (or call `unbake`) after changing the weights in place; `load_state_dict`
        unbakes by itself.
        """
        for module in self.modules():
            if isinstance(module, SNLayer):
                module.bake()
        return self

    def unbake(self) -> BigGANDeep:
        for module in self.modules():
            if isinstance(module, SNLayer):
                module.unbake()
        return self

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        self.unbake()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
