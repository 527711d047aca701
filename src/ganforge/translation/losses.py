"""How pix2pix and CycleGAN compose their objectives from `ganforge.objectives`' GAN losses.

Scaled as the papers' reference implementation: D minimises the mean of its real and fake
criteria (pix2pix, section 3.3: "we divide the objective by 2 while optimizing D, which slows
down the rate at which D learns relative to G"); G minimises the criterion of its fakes against
the real label. With `ns` (the papers' "vanilla" GAN, binary cross-entropy on logits):
    D: 0.5 (softplus(-D(real)) + softplus(D(fake)))     G: softplus(-D(fake))
and with `ls` (LSGAN, CycleGAN's choice, objectives' 0.5-weighted least squares):
    D: 0.5 (E(D(real) - 1)^2 + E D(fake)^2)               G: E(D(fake) - 1)^2
Patch discriminators' logit maps are averaged over every patch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganforge.errors import GanforgeError
from ganforge.objectives import get_objective

# name -> (factor on objectives' d_loss, factor on its g_loss)
TRANSLATION_LOSSES = {"ns": (0.5, 1.0), "ls": (1.0, 2.0)}


@dataclass(frozen=True)
class AdversarialTerms:
    d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (real logits, fake logits)
    g: Callable[[torch.Tensor], torch.Tensor]  # fake logits


def adversarial_terms(name: str) -> AdversarialTerms:
    """The D and G criteria of train.loss `name`, scaled as described in the module docstring."""
    if name not in TRANSLATION_LOSSES:
        raise GanforgeError(
            f"train.loss '{name}' is not available for translation; use ns (pix2pix's vanilla "
            "GAN) or ls (LSGAN, CycleGAN's)"
        )
    objective = get_objective(name)
    d_scale, g_scale = TRANSLATION_LOSSES[name]
    return AdversarialTerms(
        d=lambda real, fake: d_scale * objective.d_loss(real.float(), fake.float()),
        g=lambda fake: g_scale * objective.g_loss(fake.float()),
    )


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).abs().mean()


def pix2pix_d_loss(
    terms: AdversarialTerms, d_real: torch.Tensor, d_fake: torch.Tensor
) -> torch.Tensor:
    """D's loss on D(x, y) (real pairs) and D(x, G(x)) (fake pairs)."""
    return terms.d(d_real, d_fake)


def pix2pix_g_loss(
    terms: AdversarialTerms,
    d_fake: torch.Tensor,
    fake: torch.Tensor,
    target: torch.Tensor,
    lambda_l1: float,
) -> dict[str, torch.Tensor]:
    """G's loss: GAN(D(x, G(x))) + lambda_l1 |y - G(x)|_1, with both parts for logging."""
    gan, recon = terms.g(d_fake), l1(fake, target)
    return {"loss_g": gan + lambda_l1 * recon, "loss_g_gan": gan, "loss_g_l1": recon}


@dataclass
class CycleOutputs:
    """One CycleGAN forward: G_AB maps A -> B, G_BA maps B -> A; D_A judges domain A, D_B
    domain B (the reference implementation calls them G_A, G_B, D_B, D_A respectively)."""

    real_a: torch.Tensor
    real_b: torch.Tensor
    fake_b: torch.Tensor  # G_AB(real_a)
    fake_a: torch.Tensor  # G_BA(real_b)
    rec_a: torch.Tensor  # G_BA(fake_b)
    rec_b: torch.Tensor  # G_AB(fake_a)
    idt_b: torch.Tensor | None = None  # G_AB(real_b), when the identity term is on
    idt_a: torch.Tensor | None = None  # G_BA(real_a)


def cyclegan_g_loss(
    terms: AdversarialTerms,
    out: CycleOutputs,
    d_b_fake: torch.Tensor,
    d_a_fake: torch.Tensor,
    lambda_cycle: float,
    lambda_identity: float,
) -> dict[str, torch.Tensor]:
    """Both generators' loss: GAN(D_B(G_AB(a))) + GAN(D_A(G_BA(b)))
    + lambda_cycle (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)
    + lambda_identity lambda_cycle (|G_AB(b) - b|_1 + |G_BA(a) - a|_1)."""
    parts = {
        "loss_g_gan_ab": terms.g(d_b_fake),
        "loss_g_gan_ba": terms.g(d_a_fake),
        "loss_cycle_a": lambda_cycle * l1(out.rec_a, out.real_a),
        "loss_cycle_b": lambda_cycle * l1(out.rec_b, out.real_b),
    }
    if lambda_identity > 0:
        if out.idt_a is None or out.idt_b is None:
            raise ValueError("lambda_identity > 0 needs the identity outputs idt_a and idt_b")
        parts["loss_idt_b"] = lambda_cycle * lambda_identity * l1(out.idt_b, out.real_b)
        parts["loss_idt_a"] = lambda_cycle * lambda_identity * l1(out.idt_a, out.real_a)
    total = torch.stack(list(parts.values())).sum()
    return {"loss_g": total, **parts}
