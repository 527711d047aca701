"""Latent codes of one generator and how they decode: z (any generator; BigGAN's z with a class
vector), StyleGAN2's W (one w for every style) and W+ (one w per style), with StyleGAN2's noise
maps when they were optimised too."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ganforge.editing.noise import noise_installed
from ganforge.errors import GanforgeError
from ganforge.generator import Generator

SPACES = ("z", "w", "w+")


@dataclass
class LatentCode:
    """N latents in `space`: z (N, dim_z), w (N, w_dim) or w+ (N, num_ws, w_dim); `classes` the
    (N, n_classes) class vectors z decodes with (None: unconditional, or W/W+ where the class is
    already in w); `noise` StyleGAN2's noise maps by layer ((N, 1, R, R) or (R, R))."""

    space: str
    latent: torch.Tensor
    classes: torch.Tensor | None = None
    noise: dict[str, torch.Tensor] = field(default_factory=dict)
    # HyperStyle's per-image weight offsets of StyleGAN2's synthesis convolutions, by parameter
    # name: (N, O, I), the weight used is W * (1 + offset) (broadcast over the kernel)
    offsets: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.latent.shape[0])

    def select(self, index: int) -> LatentCode:
        """The index-th code alone (noise maps of a batch follow it)."""
        noise = {k: (v[index: index + 1] if v.ndim == 4 else v) for k, v in self.noise.items()}
        classes = None if self.classes is None else self.classes[index: index + 1]
        offsets = {k: v[index: index + 1] for k, v in self.offsets.items()}
        return LatentCode(self.space, self.latent[index: index + 1], classes, noise, offsets)


def check_space(g: Generator, space: str) -> str:
    """The space, if this generator has it: W and W+ are StyleGAN2's."""
    if space not in SPACES:
        raise GanforgeError(f"unknown latent space '{space}'; choose one of {', '.join(SPACES)}")
    g._need_gan("latent space")
    if space != "z" and not g.style_based:
        raise GanforgeError(f"--space {space} is StyleGAN2's; this {g.architecture} generator has "
                            "only z (with its class vector)")
    return space


def class_vectors(g: Generator, ids: torch.Tensor) -> torch.Tensor | None:
    """Class ids -> one-hot float vectors (None for an unconditional generator)."""
    if g.n_classes == 0:
        return None
    return torch.nn.functional.one_hot(ids.long(), g.n_classes).float()


def to_styles(g: Generator, code: LatentCode) -> torch.Tensor:
    """(N, num_ws, w_dim) styles of a StyleGAN2 code (differentiable)."""
    net = g.generator
    if code.space == "z":
        return net.styles(code.latent, code.classes, 1.0, None, update_w_avg=False)
    if code.space == "w":
        return code.latent.unsqueeze(1).repeat(1, net.num_ws, 1)
    return code.latent


def decode(g: Generator, code: LatentCode) -> torch.Tensor:
    """Images (N, C, R, R) (about [-1, 1]; differentiable, on the generator's device)."""
    check_space(g, code.space)
    net = g.generator
    if g.style_based:
        with noise_installed(net, code.noise):
            if code.offsets:
                return render_with_offsets(g, to_styles(g, code), code.offsets)
            return net.render(to_styles(g, code), "const")
    n = code.latent.shape[0]
    y = code.classes if code.classes is not None else torch.zeros(n, dtype=torch.long, device=code.latent.device)
    return net(code.latent, y, *g.network_extra(g.check_truncation(None)))


def render_with_offsets(g: Generator, ws: torch.Tensor, offsets: dict[str, torch.Tensor]) -> torch.Tensor:
    """StyleGAN2's synthesis with per-image weights W * (1 + offset) (HyperStyle), one image at a
    time through `torch.func.functional_call` (the network itself is left unchanged). Noise maps
    of shape (N, 1, R, R) are taken per image too."""
    from torch.func import functional_call

    from ganforge.editing.noise import noise_layers

    synthesis = g.generator.synthesis
    params = dict(synthesis.named_parameters())
    layers = noise_layers(synthesis)
    out = []
    for i in range(ws.shape[0]):
        own = {name: params[name] * (1 + d[i][:, :, None, None]) for name, d in offsets.items()}
        buffers = {f"{n}.noise_const": m.noise_const[i: i + 1] for n, m in layers.items()
                   if m.noise_const.ndim == 4}
        out.append(functional_call(synthesis, {**params, **own, **buffers}, (ws[i: i + 1], "const", g.generator.fused())))
    return torch.cat(out)
