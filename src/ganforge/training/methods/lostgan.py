"""LostGAN (Sun & Wu 2019): the layout-to-image step on the generation task.

The condition y of every batch is the real images' layout (B, O, 5) (data with layouts:
`digit-layouts`, `layout:DIR`); fakes are drawn for the same layouts, as in the reference's
train.py. Hinge losses on the image and the object logits, weighted as in the paper and the code:
    L_D = lambda_obj (E relu(1 - o_r) + E relu(1 + o_f)) + lambda_img (E relu(1 - d_r) + E relu(1 + d_f))
    L_G = -lambda_obj E o_f - lambda_img E d_f,     lambda_img = 0.1, lambda_obj = 1
(the objective's terms, so train.loss changes both). `method.lambda_mismatch` > 0 (a ganforge
option, off by default) adds  lambda_mismatch L_D(o_r, o_w)  to D's loss, o_w the object logits of
the real images with every label replaced by a random other one: D's label projection is then
trained from the first step on, instead of only once G's objects look real. `method.lambda_style`
> 0 (also off by default) subtracts  lambda_style mean|G(z) - G(z')| / mean|z_obj - z_obj'|  from
G's loss, z' = z with the object style codes redrawn: G is paid for using them (its second
forward also updates G's batch-norm statistics a second time). The reference repository's
train.py also adds an L1 and a VGG feature loss to G (the v2 code); the v1 paper has neither, and
neither is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_0
from ganforge.data.layouts import fit_layouts
from ganforge.errors import GanforgeError
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


@register("lostgan")
@dataclass
class LostGANMethodConfig(AdversarialMethodConfig):
    paired_arch = "lostgan"

    name: str = "lostgan"
    lambda_img: float = setting(0.1, bounds=AT_LEAST_0)  # image-level adversarial weight (paper 0.1)
    lambda_obj: float = setting(1.0, bounds=AT_LEAST_0)  # object-level adversarial weight (paper 1)
    # ganforge option, not in LostGAN (0 = the paper): D's object path also sees real crops with a
    # wrong label as fakes (the matching-aware D of Reed et al. 2016's GAN-CLS), weighted so
    lambda_mismatch: float = setting(0.0, bounds=AT_LEAST_0)
    # ganforge option, not in LostGAN (0 = the paper): G also maximises how much its images change
    # per change of the object style codes, |G(z_im, z_obj) - G(z_im, z_obj')| / |z_obj - z_obj'|
    # (the diversity-sensitive term of Yang et al. 2019 / mode seeking of Mao et al. 2019)
    lambda_style: float = setting(0.0, bounds=AT_LEAST_0)
    style_in_boxes: bool = False  # lambda_style's pixel change over the layout's boxes only

    def check(self, config: Any = None) -> None:
        if config is not None and config.data.hflip:
            raise GanforgeError("method.name=lostgan: data.hflip=true would flip images but not their boxes; "
                                "set data.hflip=false")
        if config is not None and config.augment.kind != "none":
            raise GanforgeError("method.name=lostgan: augmentation would move pixels away from their boxes; "
                                "set augment.kind=none")


def wrong_labels(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """The layouts y (B, O, 5) with each non-empty slot's label replaced by a uniformly drawn
    other class (empty slots, label -1, stay empty)."""
    if n_classes < 2:
        raise GanforgeError("method.lambda_mismatch needs at least 2 object classes; set method.lambda_mismatch=0")
    labels = y[..., 0].round().long()
    shift = torch.randint(1, n_classes, labels.shape, device=y.device)
    out = y.clone()
    out[..., 0] = torch.where(labels >= 0, (labels + shift) % n_classes, labels).to(y.dtype)
    return out


def box_mask(y: torch.Tensor, side: int) -> torch.Tensor:
    """(B, 1, side, side): 1 at the pixel centres inside some non-empty box of layouts y (B, O, 5)."""
    c = (torch.arange(side, device=y.device, dtype=y.dtype) + 0.5) / side
    x0, y0, w, h = (y[..., i, None] for i in range(1, 5))
    in_x = (c >= x0) & (c < x0 + w)  # (B, O, side)
    in_y = (c >= y0) & (c < y0 + h)
    inside = (in_y[..., :, None] & in_x[..., None, :]) & (y[..., 0, None, None] >= 0)
    return inside.any(1, keepdim=True)


@method("lostgan")
class LostGAN(Adversarial):
    uses_heads = True

    def prepare_dataset(self, dataset: Any) -> Any:
        self.dataset = fit_layouts(dataset, self.ctx.config.model.max_objects)
        return self.dataset

    def grid_condition(self, labels: torch.Tensor, dataset: Any) -> torch.Tensor:
        """Each grid row draws one training layout (the first whose largest object is the row's
        class), so a row shows the object styles of one layout."""
        first: dict[int, int] = {}
        for i, label in enumerate(dataset.labels.tolist()):
            first.setdefault(label, i)
        return dataset.layouts[torch.tensor([first.get(int(c), 0) for c in labels])].cpu()

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, _ = self.latent(real.shape[0])
        with torch.no_grad():
            fake = self.ctx.generate(z, y_real).to(real.dtype)
        r = self.ctx.discriminate(real, y_real)
        f = self.ctx.discriminate(fake, y_real)
        obj = self.ctx.objective
        loss_img = obj.d_loss(r.logits, f.logits)
        loss_obj = obj.d_loss(r.heads["objects"].float(), f.heads["objects"].float())
        loss = self.cfg.lambda_obj * loss_obj + self.cfg.lambda_img * loss_img
        extra = {"loss_d_img": loss_img.detach(), "loss_d_obj": loss_obj.detach()}
        if self.cfg.lambda_mismatch > 0:
            w = self.ctx.discriminate(real, wrong_labels(y_real, self.ctx.config.model.n_classes))
            loss_mis = obj.d_loss(r.heads["objects"].float(), w.heads["objects"].float())
            loss = loss + self.cfg.lambda_mismatch * loss_mis
            extra["loss_d_mismatch"] = loss_mis.detach()
        return DLoss(loss, r.logits, f.logits, extra)

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, y = self.ctx.real_batch()
        y = y[:n]
        z, _ = self.latent(y.shape[0])
        fake = self.ctx.generate(z, y)
        out = self.ctx.discriminate(fake, y)
        loss_img = self.ctx.objective.g_loss(out.logits)
        loss_obj = self.ctx.objective.g_loss(out.heads["objects"].float())
        loss = self.cfg.lambda_obj * loss_obj + self.cfg.lambda_img * loss_img
        extra = {"loss_g_img": loss_img.detach(), "loss_g_obj": loss_obj.detach()}
        if self.cfg.lambda_style > 0:
            z2 = z.clone()
            start = self.ctx.config.model.dim_z
            z2[:, start:] = self.latent(y.shape[0])[0][:, start:]
            diff = (fake - self.ctx.generate(z2, y)).abs().float()
            if self.cfg.style_in_boxes:
                inside = box_mask(y, fake.shape[-1]).to(diff.dtype)
                pixels = (diff * inside).sum() / (inside.sum() * diff.shape[1]).clamp_min(1)
            else:
                pixels = diff.mean()
            change = pixels / (z - z2)[:, start:].abs().mean().float()
            loss = loss - self.cfg.lambda_style * change
            extra["style_change"] = change.detach()
        return loss, extra
