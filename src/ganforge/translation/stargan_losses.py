"""StarGAN's objectives (Choi et al. 2018, eq. 1-7), composed as the authors' code does.

    D: -E D_src(x) + E D_src(G(x, c')) + lambda_cls L_cls(D_cls(x), c) + lambda_gp GP
    G: -E D_src(G(x, c')) + lambda_cls L_cls(D_cls(G(x, c')), c') + lambda_rec |x - G(G(x, c'), c)|_1

c is x's own label, c' the target (a shuffle of the batch's labels). L_cls is binary
cross-entropy on the logits, summed over the attributes and averaged over the batch (CelebA's
multi-label form); the adversarial terms are the WGAN critic's means over D's patch map. With
several datasets (section 3.2) L_cls counts only the attributes of each image's own dataset.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.objectives import wasserstein_d, wasserstein_g
from ganforge.translation.losses import l1


def domain_classification_loss(logits: torch.Tensor, target: torch.Tensor,
                               known: torch.Tensor | None = None) -> torch.Tensor:
    """sum_k BCE(logits_k, target_k), averaged over the batch; with `known` (N, K) 0/1 (several
    datasets: the attributes of each image's own dataset) only the known terms count."""
    if known is None:
        bce = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="sum")
        return bce / logits.shape[0]
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return (bce * known.float()).sum() / logits.shape[0]


def stargan_d_loss(src_real: torch.Tensor, cls_real: torch.Tensor, src_fake: torch.Tensor,
                   penalty: torch.Tensor, label_org: torch.Tensor, lambda_cls: float,
                   lambda_gp: float, known: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """D's loss on real images (with their labels), fakes and the gradient penalty."""
    adversarial = wasserstein_d(src_real.float(), src_fake.float())
    cls = domain_classification_loss(cls_real, label_org, known)
    total = adversarial + lambda_cls * cls + lambda_gp * penalty
    return {"loss_d": total, "loss_d_adv": adversarial, "loss_d_cls": cls, "loss_d_gp": penalty}


def stargan_g_loss(src_fake: torch.Tensor, cls_fake: torch.Tensor, label_trg: torch.Tensor,
                   reconstruction: torch.Tensor, real: torch.Tensor, lambda_cls: float,
                   lambda_rec: float, known: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """G's loss: fool D, be classified as the target, come back to x under x's own label."""
    adversarial = wasserstein_g(src_fake.float())
    cls = domain_classification_loss(cls_fake, label_trg, known)
    rec = l1(reconstruction, real)
    total = adversarial + lambda_cls * cls + lambda_rec * rec
    return {"loss_g": total, "loss_g_adv": adversarial, "loss_g_cls": cls, "loss_g_rec": rec}
