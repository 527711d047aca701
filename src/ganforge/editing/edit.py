"""Edits: a code moved along a direction by given strengths, latent + s x direction exactly
(directions are stored in units of one std of the latents), and class transfer for generators
with a class vector (the code's z kept, its class replaced)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ganforge.editing.codes import LatentCode, class_vectors, decode, to_styles
from ganforge.editing.directions import parse_layers
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.models.biggan import Generator as BigGANGenerator

MAX_STRENGTHS = 1_000


def parse_strengths(text: str) -> list[float]:
    """'-3:3:7' (start:stop:count, ends included) or a comma list '-2,0,2'."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            k = int(count)
            if not 1 <= k <= MAX_STRENGTHS:
                raise ValueError
            return torch.linspace(float(start), float(stop), k).tolist() if k > 1 else [float(start)]
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GanforgeError(f"--strength must be START:STOP:COUNT (e.g. -3:3:7, at most "
                            f"{MAX_STRENGTHS}) or a comma list (e.g. -2,0,2), got '{text}'") from None


def in_direction_space(g: Generator, code: LatentCode, space: str) -> LatentCode:
    """The code in the space the direction lives in: a StyleGAN2 z code is mapped to W+ (its
    class included) so that a W direction applies; W codes go to W+ when a layer range is used."""
    if code.space == space or (space == "w" and code.space == "w+"):
        return code
    if space == "w" and code.space == "z" and g.style_based:
        with torch.no_grad():
            styles = to_styles(g, LatentCode("z", code.latent.to(g.device), None if code.classes is None
                                             else code.classes.to(g.device))).cpu()
        return LatentCode("w+", styles, None, code.noise, code.offsets)
    raise GanforgeError(f"this direction moves {space} latents; the latent is a {code.space} code "
                        "of another kind (make directions for this generator's own latent space)")


def shift(code: LatentCode, direction: torch.Tensor, strengths: Sequence[float],
          layers: str | None = None) -> LatentCode:
    """len(strengths) codes per input code (code-major): latent + s x direction (W+: on the
    styles of `layers`, all by default)."""
    if code.latent.shape[-1] != direction.shape[-1]:
        raise GanforgeError(f"the direction is {direction.shape[-1]}-d, the latent {code.latent.shape[-1]}-d")
    s = torch.tensor(list(strengths), dtype=code.latent.dtype)
    base = code.latent.cpu().repeat_interleave(len(s), 0)
    steps = s.repeat(len(code))
    if code.space == "w+":
        picked = parse_layers(layers, base.shape[1])
        mask = torch.zeros(base.shape[1], 1)
        mask[picked] = 1.0
        latent = base + steps[:, None, None] * mask * direction
    else:
        if layers not in (None, "", "all"):
            raise GanforgeError("--layers picks StyleGAN2 styles; this code has one latent for all")
        latent = base + steps[:, None] * direction
    classes = None if code.classes is None else code.classes.cpu().repeat_interleave(len(s), 0)
    noise = {k: (v.repeat_interleave(len(s), 0) if v.ndim == 4 else v) for k, v in code.noise.items()}
    offsets = {k: v.repeat_interleave(len(s), 0) for k, v in code.offsets.items()}
    return LatentCode(code.space, latent, classes, noise, offsets)


@torch.no_grad()
def render(g: Generator, code: LatentCode, batch: int = 64) -> torch.Tensor:
    """Images of every code (CPU, clamped to [-1, 1])."""
    out = []
    for i in range(0, len(code), batch):
        part = LatentCode(code.space, code.latent[i: i + batch].to(g.device),
                          None if code.classes is None else code.classes[i: i + batch].to(g.device),
                          {k: (v[i: i + batch] if v.ndim == 4 else v).to(g.device) for k, v in code.noise.items()},
                          {k: v[i: i + batch].to(g.device) for k, v in code.offsets.items()})
        out.append(decode(g, part).clamp(-1, 1).cpu())
    return torch.cat(out)


def edit(g: Generator, code: LatentCode, direction: torch.Tensor, space: str,
         strengths: Sequence[float], layers: str | None = None) -> tuple[torch.Tensor, LatentCode]:
    """(images (len(code) x len(strengths)), the edited codes)."""
    if not strengths:
        raise GanforgeError("give at least one --strength")
    code = in_direction_space(g, code, space)
    if code.space == "w" and layers not in (None, "", "all"):  # a layer range needs one w per style
        code = LatentCode("w+", to_styles(g, code), None, code.noise, code.offsets)
    edited = shift(code, direction, strengths, layers)
    return render(g, edited), edited


def class_transfer(g: Generator, code: LatentCode, targets: Sequence[int], layers: str | None = None) -> torch.Tensor:
    """Each code's z with each target class (code-major): BigGAN's class swap of an inverted
    image. StyleGAN2 z codes work the same way (the class enters the mapping). `layers` swaps the
    class only where it enters some layers and keeps the code's own class elsewhere: StyleGAN2's
    styles (w+ of (z, own class) with the styles START:END taken from (z, target)), BigGAN's G
    blocks (the class vector of blocks START:END replaced; block 0 is the coarsest, 4x4 -> 8x8)."""
    if g.n_classes == 0:
        raise GanforgeError("this generator is unconditional: it has no class to change")
    if code.space != "z":
        raise GanforgeError(f"class transfer changes the class of a z code; this is a {code.space} code "
                            "(project with --space z)")
    ids = torch.tensor(list(targets)).repeat(len(code))
    latent = code.latent.cpu().repeat_interleave(len(targets), 0)
    noise = {k: (v.repeat_interleave(len(targets), 0) if v.ndim == 4 else v) for k, v in code.noise.items()}
    target = class_vectors(g, ids)
    if layers in (None, "", "all"):
        return render(g, LatentCode("z", latent, target, noise))
    if code.classes is None:
        raise GanforgeError("a class swap in some --layers keeps the code's own class elsewhere; this code has none")
    own = code.classes.cpu().float().repeat_interleave(len(targets), 0)
    if g.style_based:
        return render(g, LatentCode("w+", _styles_swapped(g, latent, own, target, layers), None, noise))
    if not isinstance(g.generator, BigGANGenerator):
        raise GanforgeError(f"--layers with --to-class picks StyleGAN2 styles or BigGAN G blocks; this "
                            f"{type(g.generator).__name__} generator takes one class for all layers")
    blocks = len(g.generator.blocks)
    picked = parse_layers(layers, blocks, "G block")
    per_block = own[:, None, :].repeat(1, blocks, 1)
    per_block[:, picked] = target[:, None, :]
    return render(g, LatentCode("z", latent, per_block, noise))


@torch.no_grad()
def _styles_swapped(g: Generator, z: torch.Tensor, own: torch.Tensor, target: torch.Tensor,
                    layers: str) -> torch.Tensor:
    """w+ of (z, own) with the styles of `layers` from (z, target)."""
    picked = parse_layers(layers, g.generator.num_ws)
    styles = to_styles(g, LatentCode("z", z.to(g.device), own.to(g.device))).cpu()
    styles[:, picked] = to_styles(g, LatentCode("z", z.to(g.device), target.to(g.device))).cpu()[:, picked]
    return styles
