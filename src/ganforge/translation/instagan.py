"""InstaGAN (Mo, Cho & Shin, ICLR 2019): CycleGAN between domains whose shapes differ, by
translating each image together with its set of instance masks (`models/instagan.py`).

Data: each domain's images packed with `translation.ins_max` instance masks as extra channels
(`instance_data`). A step is the authors' `optimize_parameters` on one batch: the masks are put
largest first (or shuffled: `set_order=random`) and translated `ins_per` at a time; pass i
translates the image the previous pass produced together with masks i*ins_per..(i+1)*ins_per-1,
then takes one G step (both generators) and one D step (both discriminators) on that pass's
outputs, before the next pass runs with the updated generators. Passes stop when no image of the
batch has an instance left, so `phases` is ("g", "d") once per pass.

Losses of a pass (A -> B; B -> A alike), with x the pass's input image and masks a:
    GAN:      LSGAN on D_B([G_AB(x, a) image, masks of the passes so far, -1 for those to come])
    cycle:    lambda_cycle |G_BA(G_AB(x, a)) - (x, a)|_1 (image and masks)
    identity: lambda_cycle * lambda_identity |G_BA(x, a) - (x, a)|_1
    context:  lambda_cycle * lambda_context mean(w |x - y'|), w = 1 outside a and G_AB's masks
and D: 0.5 (E(D_B(real b) - 1)^2 + E D_B(pool(fake b))^2), real b with all ins_max masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganforge.config import Config, TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.models.common import init_normal
from ganforge.models.instagan import InstaDiscriminator, InstaGenerator, InstaTranslator
from ganforge.models.instagan_sequence import present
from ganforge.models.patchgan import patch_output_size
from ganforge.translation.instagan_losses import context_loss, context_weight, select_masks
from ganforge.translation.losses import adversarial_terms, l1
from ganforge.translation.method import TranslationMethod
from ganforge.translation.networks import generator_kind
from ganforge.translation.pool import ImagePool

SAMPLINGS = 2


def _generator(tc: TranslationConfig, c_in: int, c_out: int, cls: type = InstaGenerator) -> InstaGenerator:
    kind, blocks = generator_kind(tc.generator)
    net = cls(c_in, c_out, blocks, tc.ngf, tc.norm, tc.dropout)
    init_normal(net, tc.init_gain)
    return net


def _d_layers(tc: TranslationConfig) -> int:
    return 3 if tc.discriminator == "basic" else tc.n_layers_d


def _discriminator(tc: TranslationConfig, channels: int) -> InstaDiscriminator:
    # no N(0, init_gain) here: the authors' init skips their spectral-normed convs, which keep
    # PyTorch's default initialisation
    return InstaDiscriminator(channels, tc.ndf, _d_layers(tc), tc.norm)


@dataclass
class Side:
    """One direction's state across the passes of a step (A -> B for side "a")."""

    real: torch.Tensor  # image + all ins_max masks (D's real for the other domain's D)
    image: torch.Tensor  # the current pass's input image (the previous pass's output)
    done: list[torch.Tensor] = field(default_factory=list)  # earlier passes' output masks
    active: bool = False
    x: torch.Tensor | None = None  # this pass's input (image + its masks)
    fake: torch.Tensor | None = None  # G(x)
    rec: torch.Tensor | None = None  # the other G(G(x))
    fake_mul: torch.Tensor | None = None  # fake image + every mask so far, -1 for those to come


@dataclass
class Passes:
    """One micro-batch's sequential translation: `index` is the pass the last G phase ran."""

    a: Side
    b: Side
    index: int = -1


class InstaGAN(TranslationMethod):
    """The networks, image pools and losses of an InstaGAN run."""

    data_kind = "instances"
    # the passes of a step depend on each rank's images, so ranks could step different times
    distributed = False
    order = ("g", "d")
    generator_names = ("G_AB", "G_BA")

    def __init__(self, tc: TranslationConfig, loss: str, pool_seed: int) -> None:
        c_a, c_b = tc.channels_a, tc.channels_b
        self.G_AB, self.G_BA = _generator(tc, c_a, c_b), _generator(tc, c_b, c_a)
        self.D_A, self.D_B = _discriminator(tc, c_a), _discriminator(tc, c_b)
        self.networks: dict[str, nn.Module] = {"G_AB": self.G_AB, "G_BA": self.G_BA,
                                               "D_A": self.D_A, "D_B": self.D_B}
        self.fwd: dict[str, Any] = dict(self.networks)
        self.param_groups = {"g": ("G_AB", "G_BA"), "d": ("D_A", "D_B")}
        self.pools = {"fake_a": ImagePool(tc.pool_size, pool_seed),
                      "fake_b": ImagePool(tc.pool_size, pool_seed + 1)}
        self.terms = adversarial_terms(loss)
        self.channels = c_a
        self.ins_max, self.ins_per, self.set_order = tc.ins_max, tc.ins_per, tc.set_order
        self.passes_max = max(1, tc.ins_max // tc.ins_per)
        self.lambda_cycle = tc.lambda_cycle
        self.lambda_identity, self.lambda_context = tc.lambda_identity, tc.lambda_context
        self._passes = 0  # passes the micro-batches since the last `phases` call need

    @property
    def directions(self) -> tuple[str, ...]:
        return ("AtoB", "BtoA")

    def generator(self, direction: str) -> nn.Module:
        return self.G_AB if direction == "AtoB" else self.G_BA

    # ---- the step ---------------------------------------------------------------------------
    def passes_needed(self, masks: torch.Tensor) -> int:
        """Passes until no image has an instance left (selected masks, largest first)."""
        most = int(present(masks).sum(1).max()) if masks.shape[1] else 0
        return min(self.passes_max, -(-most // self.ins_per))

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> Passes:
        c = self.channels
        masks_a = select_masks(real_a[:, c:], self.ins_max, self.set_order)
        masks_b = select_masks(real_b[:, c:], self.ins_max, self.set_order)
        self._passes = max(self._passes, self.passes_needed(masks_a), self.passes_needed(masks_b))
        return Passes(Side(torch.cat([real_a[:, :c], masks_a], 1), real_a[:, :c]),
                      Side(torch.cat([real_b[:, :c], masks_b], 1), real_b[:, :c]))

    def phases(self, step: int) -> tuple[str, ...]:
        passes, self._passes = self._passes, 0
        return self.order * passes

    def _run_pass(self, side: Side, index: int, there: Any, back: Any) -> None:
        """Pass `index` of one direction: the translation of its masks, the cycle back, and the
        packed fake for D (earlier passes' masks detached, later slots empty)."""
        c, n = self.channels, self.ins_per
        if index > 0 and side.active:  # the next pass starts from this pass's translation
            side.image = side.fake[:, :c].detach()
            side.done.append(side.fake[:, c:].detach())
        masks = side.real[:, c + n * index : c + n * (index + 1)]
        side.active = bool(present(masks).any())
        if not side.active:
            return
        side.x = torch.cat([side.image, masks], 1)
        side.fake = there(side.x)
        side.rec = back(side.fake)
        later = side.real.new_full((len(masks), self.ins_max - n * (index + 1), *masks.shape[2:]), -1.0)
        side.fake_mul = torch.cat([side.fake[:, :c], *side.done, side.fake[:, c:], later], 1)

    def _g_side(self, side: Side, d: Any, back: Any, tag: str) -> dict[str, torch.Tensor]:
        if not side.active:
            return {}
        c, cycle = self.channels, self.lambda_cycle
        x, fake = side.x, side.fake
        parts = {f"loss_g_gan_{tag}": self.terms.g(d(side.fake_mul)),
                 f"loss_cycle_{tag[0]}": cycle * l1(side.rec, x)}
        if self.lambda_identity > 0:
            parts[f"loss_idt_{tag[0]}"] = cycle * self.lambda_identity * l1(back(x), x)
        if self.lambda_context > 0:
            weight = context_weight(x[:, c:], fake[:, c:])
            parts[f"loss_ctx_{tag[0]}"] = cycle * self.lambda_context * context_loss(x[:, :c], fake[:, :c], weight)
        return parts

    def loss(self, phase: str, out: Passes) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(the loss of `phase` for the current pass, its parts); a "g" phase starts a pass."""
        g_ab, g_ba, d_a, d_b = (self.fwd[k] for k in ("G_AB", "G_BA", "D_A", "D_B"))
        if phase == "g":
            out.index += 1
            self._run_pass(out.a, out.index, g_ab, g_ba)
            self._run_pass(out.b, out.index, g_ba, g_ab)
            parts = {**self._g_side(out.a, d_b, g_ba, "ab"), **self._g_side(out.b, d_a, g_ab, "ba")}
        else:
            parts = {}
            if out.a.active:
                fake = self.pools["fake_b"].query(out.a.fake_mul)
                parts["loss_d_b"] = self.terms.d(d_b(out.b.real), d_b(fake))
            if out.b.active:
                fake = self.pools["fake_a"].query(out.b.fake_mul)
                parts["loss_d_a"] = self.terms.d(d_a(out.a.real), d_a(fake))
        if not parts:  # this micro-batch has no instance left while another one has
            return out.a.real.new_zeros((), requires_grad=True), {}
        return torch.stack(list(parts.values())).sum(), parts

    # ---- class facts ------------------------------------------------------------------------
    @classmethod
    def check(cls, config: Config) -> None:
        tc = config.translation
        kind, _ = generator_kind(tc.generator)
        if kind != "resnet":
            raise GanforgeError(f"translation.generator={tc.generator}: InstaGAN's G is a ResNet "
                                "set generator; use resnet_Kblocks (the authors': resnet_9blocks)")
        adversarial_terms(config.train.loss)
        if tc.channels_a != tc.channels_b:
            raise GanforgeError("InstaGAN translates an image pass after pass with both generators: "
                                "set translation.channels_b = translation.channels_a "
                                f"({tc.channels_a})")
        if tc.discriminator not in ("basic", "n_layers"):
            raise GanforgeError(f"translation.discriminator={tc.discriminator}: InstaGAN's D is a "
                                "PatchGAN set discriminator; use basic or n_layers")
        if tc.ins_per > tc.ins_max:
            raise GanforgeError(f"translation.ins_per={tc.ins_per} is more than translation.ins_max="
                                f"{tc.ins_max}; a pass cannot take more instances than a step trains")
        if tc.ins_max > tc.max_instances:
            raise GanforgeError(f"translation.ins_max={tc.ins_max} is more than translation."
                                f"max_instances={tc.max_instances} (the masks read per image)")
        if tc.crop_size % 2**SAMPLINGS:
            raise GanforgeError(f"translation.crop_size={tc.crop_size} does not fit InstaGAN's "
                                f"generator: use a multiple of {2**SAMPLINGS}")
        if patch_output_size(tc.crop_size, _d_layers(tc)) < 1:
            raise GanforgeError(f"translation.crop_size={tc.crop_size} is too small for a PatchGAN "
                                f"with {_d_layers(tc)} stride-2 layers; use larger crops or fewer "
                                "translation.n_layers_d")

    @classmethod
    def size_multiple(cls, tc: TranslationConfig) -> int:
        return 2**SAMPLINGS

    @classmethod
    def network_names(cls, tc: TranslationConfig) -> dict[str, str]:
        return {"AtoB": "G_AB", "BtoA": "G_BA"}

    @classmethod
    def inference_networks(cls, tc: TranslationConfig) -> dict[str, nn.Module]:
        nets = {"AtoB": _generator(tc, tc.channels_a, tc.channels_b, InstaTranslator),
                "BtoA": _generator(tc, tc.channels_b, tc.channels_a, InstaTranslator)}
        for net in nets.values():
            net.per_pass = tc.ins_per
        return nets

    @classmethod
    def grid_rows(cls, tc: TranslationConfig, generator_of: Any, samples: dict[str, torch.Tensor],
                  mode: str, seed: int) -> list[torch.Tensor]:
        """A, its masks' union, G_AB(A), its masks' union; the same for B."""
        from ganforge.translation.instance_inference import instance_grid_rows

        return instance_grid_rows(tc, generator_of, samples, mode, seed)
