"""Projection: the latent that reproduces a given image, by optimisation.

StyleGAN2 (z, W or W+) follows NVlabs/stylegan2-ada-pytorch's projector.py: start at the mean
w of 10,000 mapped samples, Adam (0.9, 0.999) with the learning rate ramped up over the first 5 %
of steps and down by a half cosine over the last 25 %, Gaussian noise of w_std x 0.05 added to w
and ramped to zero over the first 75 %, the noise maps optimised too under the multi-scale
autocorrelation regulariser (weight 1e5) and renormalised after every step. BigGAN (and every
other z generator) optimises z from 0 under the same schedules (z's std is 1), with the class
fixed or free (a softmax mix of classes, optimised with z).

Loss per image: mse_weight x pixel MSE + perceptual_weight x LPIPS-style distance (see
`perceptual`); the official projector uses its VGG16 LPIPS alone. Images of a batch are
independent projections (every term is per image, and Adam is element-wise).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ganforge.editing.codes import LatentCode, check_space, class_vectors, decode
from ganforge.editing.noise import NOISE_WEIGHT, noise_layers, noise_regularization, normalize_noise
from ganforge.editing.perceptual import Perceptual
from ganforge.errors import GanforgeError, check_count
from ganforge.generator import Generator

MAX_STEPS = 100_000
W_STATS_SEED = 123  # the official projector's RandomState(123)


@dataclass
class ProjectSettings:
    """The official projector's defaults, plus the pixel term and the class handling."""

    space: str = "w"
    steps: int = 1000
    lr: float = 0.1
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    latent_noise: float = 0.05  # initial_noise_factor (x w_std; x 1 in z)
    noise_ramp: float = 0.75
    noise_weight: float = NOISE_WEIGHT
    optimize_noise: bool = True  # StyleGAN2's noise maps
    w_avg_samples: int = 10_000
    mse_weight: float = 1.0
    perceptual_weight: float = 1.0
    free_class: bool = False  # z generators with classes: optimise the class mix too
    seed: int = 0
    frames: int = 0  # keep this many evenly spaced reconstructions (for a GIF)

    def check(self) -> None:
        """Weights and rates must be finite; a NaN weight would otherwise run to the end silently."""
        for name in ("lr", "mse_weight", "perceptual_weight", "noise_weight", "latent_noise"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0) or (name == "lr" and value == 0):
                rule = "a positive number" if name == "lr" else "a finite number >= 0"
                raise GanforgeError(f"{name.replace('_', '-')} must be {rule}, got {value}")
        check_count("--steps", self.steps, MAX_STEPS)
        check_count("w_avg_samples", self.w_avg_samples, 10_000_000, least=2)


@dataclass
class Projection:
    code: LatentCode
    reconstruction: torch.Tensor  # (N, C, R, R) in [-1, 1], CPU
    target: torch.Tensor
    losses: list[dict[str, float]]
    perceptual: str
    settings: ProjectSettings
    seconds: float
    frames: list[torch.Tensor] = field(default_factory=list)
    w_std: float | None = None

    def summary(self) -> dict:
        return {"space": self.code.space, "steps": self.settings.steps, "perceptual": self.perceptual,
                "final": self.losses[-1] if self.losses else {}, "seconds": round(self.seconds, 3),
                "w_std": self.w_std, "settings": asdict(self.settings)}


def learning_rate(step: int, settings: ProjectSettings) -> float:
    """The official ramp: up linearly over `lr_rampup`, down by a half cosine over `lr_rampdown`."""
    t = step / settings.steps
    ramp = min(1.0, (1.0 - t) / settings.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / settings.lr_rampup)
    return settings.lr * ramp


def latent_noise_scale(step: int, settings: ProjectSettings, std: float) -> float:
    t = step / settings.steps
    return std * settings.latent_noise * max(0.0, 1.0 - t / settings.noise_ramp) ** 2


@torch.no_grad()
def w_statistics(g: Generator, samples: int, class_id: int | None = None) -> tuple[torch.Tensor, float]:
    """Mean w (w_dim,) and the official scalar spread sqrt(sum |w - mean|^2 / N) of `samples`
    mapped z (seeded; classes uniform unless one is given)."""
    rng = np.random.RandomState(W_STATS_SEED)
    z = torch.from_numpy(rng.randn(samples, g.dim_z)).float().to(g.device)
    ids = torch.full((samples,), class_id) if class_id is not None else \
        torch.from_numpy(rng.randint(0, max(g.n_classes, 1), samples))
    c = class_vectors(g, ids)
    ws = g.generator.styles(z, None if c is None else c.to(g.device), 1.0, None, update_w_avg=False)[:, 0]
    array = ws.cpu().numpy().astype(np.float32)  # numpy's summation, as the official code: the
    mean = np.mean(array, axis=0)  # start point equal to the bit (see benchmarks/projector_parity.py)
    std = float((np.sum((array - mean) ** 2) / samples) ** 0.5)
    return torch.from_numpy(mean).to(g.device), std


def project(g: Generator, target: torch.Tensor, settings: ProjectSettings | None = None,
            perceptual: Perceptual | None = None, class_id: int | list[int] | None = None,
            progress: bool = False) -> Projection:
    """Project target images (N, C, R, R) in [-1, 1] into `settings.space`; `class_id`: the class
    of every image, or one per image (conditional generators; z codes and W statistics)."""
    settings = settings or ProjectSettings()
    space = check_space(g, settings.space)
    settings.check()
    _check_target(g, target)
    n = target.shape[0]
    ids = None if class_id is None else torch.as_tensor(class_id).long().expand(n).clone()
    if ids is not None and not ((ids >= 0) & (ids < max(g.n_classes, 1))).all():
        raise GanforgeError(f"class {ids.tolist()} is out of range (0..{max(g.n_classes, 1) - 1})")
    if not g.style_based and g.n_classes and not g.soft_classes:
        raise GanforgeError("projecting into this generator needs class vectors it can take "
                            "(BigGAN, DCGAN/MLP conditional, BigGAN-deep, StyleGAN2)")
    device = g.device
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    target = target.to(device).float()
    w_std = None
    params: list[torch.Tensor] = []
    class_logits = None
    classes = None
    if g.n_classes and (space == "z"):
        classes = class_vectors(g, ids if ids is not None else torch.zeros(n, dtype=torch.long)).to(device)
        if settings.free_class:
            class_logits = (classes * 4.0 if ids is not None else torch.zeros_like(classes)).requires_grad_(True)
            params.append(class_logits)
    if space == "z":
        std = 1.0
        init = torch.zeros(n, g.dim_z) if not g.style_based else \
            torch.randn(n, g.dim_z, generator=torch.Generator().manual_seed(settings.seed))
        latent = init.to(device).requires_grad_(True)
    else:
        single = int(ids[0]) if ids is not None and bool((ids == ids[0]).all()) else None
        mean, std = w_statistics(g, settings.w_avg_samples, single)
        w_std = std
        shape = (n, mean.shape[0]) if space == "w" else (n, g.generator.num_ws, mean.shape[0])
        latent = mean.expand(shape).clone().requires_grad_(True)
    params.insert(0, latent)
    noise: dict[str, torch.Tensor] = {}
    if g.style_based and settings.optimize_noise:
        for name, layer in noise_layers(g.generator).items():
            r = layer.noise_const.shape[-1]
            noise[name] = torch.randn(n, 1, r, r, device=device).requires_grad_(True)
        params += list(noise.values())
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=settings.lr)
    target_features = perceptual.features(target) if perceptual is not None else None
    losses: list[dict[str, float]] = []
    frames: list[torch.Tensor] = []
    frame_steps = set(np.linspace(0, settings.steps - 1, settings.frames).round().astype(int).tolist()) \
        if settings.frames else set()
    for step in range(settings.steps):
        lr = learning_rate(step, settings)
        for group in optimizer.param_groups:
            group["lr"] = lr
        jitter = torch.randn_like(latent) * latent_noise_scale(step, settings, std)
        if class_logits is not None:
            classes = torch.softmax(class_logits, dim=1)
        code = LatentCode(space, latent + jitter, classes, noise)
        images = decode(g, code)
        mse = (images - target).square().flatten(1).mean(1)
        loss_per = settings.mse_weight * mse
        dist = None
        if target_features is not None:
            dist = perceptual.distance(images, target_features)
            loss_per = loss_per + settings.perceptual_weight * dist
        reg = noise_regularization(list(noise.values())) if noise else torch.zeros((), device=device)
        loss = loss_per.sum() + settings.noise_weight * reg
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if noise:
            normalize_noise(list(noise.values()))
        record = {"step": step + 1, "loss": loss.item() / n, "mse": mse.mean().item(), "lr": lr}
        if dist is not None:
            record["perceptual"] = dist.mean().item()
        if noise:
            record["noise_reg"] = reg.item() / n
        losses.append(record)
        if step in frame_steps:
            frames.append(images.detach().clamp(-1, 1).cpu())
        if progress and (step + 1) % max(1, settings.steps // 10) == 0:
            print(f"step {step + 1}/{settings.steps}: loss {record['loss']:.4f} mse {record['mse']:.4f}")
    if class_logits is not None:
        classes = torch.softmax(class_logits, dim=1)
    final = LatentCode(space, latent.detach(), None if classes is None else classes.detach(),
                       {k: v.detach() for k, v in noise.items()})
    with torch.no_grad():
        reconstruction = decode(g, final).clamp(-1, 1).cpu()
    return Projection(final, reconstruction, target.cpu(), losses,
                      perceptual.name if perceptual is not None else "none (pixel MSE only)",
                      settings, time.perf_counter() - start, frames, w_std)


def _check_target(g: Generator, target: torch.Tensor) -> None:
    channels = image_channels(g)
    want = (g.resolution, g.resolution)
    if target.ndim != 4 or tuple(target.shape[-2:]) != want or target.shape[1] != channels:
        raise GanforgeError(f"target images must be (N, C, {want[0]}, {want[1]}) at this generator's "
                            f"resolution, got {tuple(target.shape)}; read files with read_target")


def image_channels(g: Generator) -> int:
    """The generator's image channels (1 grey, 3 RGB)."""
    if g.config is not None:
        return int(g.config.model.img_channels)
    return int(g.model_config.get("img_channels", 3))
