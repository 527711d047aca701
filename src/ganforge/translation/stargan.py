"""StarGAN (Choi et al. 2018): one generator G(x, c) for every domain of a set of binary
attributes, a D with a WGAN-GP critic head and a domain classifier head.

A step is one D iteration, as in the authors' code: the batch's target labels are a shuffle of
its own labels; D steps every iteration, G every `n_critic`-th (its loss uses the same fakes:
G has not changed since they were made). The task (`training/tasks/translation.py`) runs it.
Several datasets with different label sets train one model with the mask vector (section 3.2;
`translation.attribute_sets`, `attribute_sets.py`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.config import Config, TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.models.stargan import StarGANDiscriminator, StarGANGenerator
from ganforge.objectives import gradient_penalty
from ganforge.translation import attribute_sets
from ganforge.translation.attribute_sets import mask_width
from ganforge.translation.conditions import flipped_targets
from ganforge.translation.inference import run_generator
from ganforge.translation.method import TranslationMethod
from ganforge.translation.networks import generator_kind
from ganforge.translation.stargan_losses import stargan_d_loss, stargan_g_loss

SAMPLINGS = 2  # G's stride-2 stages


def _sets(tc: TranslationConfig) -> tuple[int, ...]:
    """The datasets' label sizes when there are several (the label ends with a mask), else ()."""
    sets = tuple(getattr(tc, "attribute_sets", ()) or ())
    return sets if mask_width(sets) else ()


def _generator(tc: TranslationConfig) -> StarGANGenerator:
    """G takes the label with the mask: len(attributes) + one value per dataset (several)."""
    _, blocks = generator_kind(tc.generator)
    c_dim = len(tc.attributes) + mask_width(_sets(tc))
    return StarGANGenerator(tc.channels_a, tc.channels_a, c_dim, tc.ngf, blocks)


class StarGAN(TranslationMethod):
    """The networks and losses of a StarGAN run."""

    data_kind = "attributes"
    condition = "attributes"
    order = ("d", "g")
    generator_names = ("G",)

    def __init__(self, tc: TranslationConfig, loss: str, pool_seed: int) -> None:
        if not tc.attributes:
            raise GanforgeError("translation.attributes is empty; name the domain attributes, "
                                "e.g. translation.attributes=[Black_Hair,Blond_Hair,Male]")
        self.G = _generator(tc)
        self.D = StarGANDiscriminator(tc.channels_a, tc.crop_size, len(tc.attributes), tc.ndf,
                                      tc.n_layers_d)
        self.networks: dict[str, nn.Module] = {"G": self.G, "D": self.D}
        self.fwd: dict[str, Any] = dict(self.networks)
        self.param_groups = {"g": ("G",), "d": ("D",)}
        self.pools = {}
        self.n_critic = tc.n_critic
        self.sets, self.n_attributes = _sets(tc), len(tc.attributes)
        self.lambda_cls, self.lambda_rec, self.lambda_gp = tc.lambda_cls, tc.lambda_rec, tc.lambda_gp

    def phases(self, step: int) -> tuple[str, ...]:
        """D every step, G every n_critic-th iteration; with m datasets an iteration is m steps
        (one batch of each dataset, the authors' `train_multi`), G stepping on each of them."""
        iteration = (step - 1) // max(1, len(self.sets)) + 1
        return ("d", "g") if iteration % self.n_critic == 0 else ("d",)

    def _known(self, labels: torch.Tensor) -> torch.Tensor | None:
        """Which attributes each label's dataset knows (several datasets), else None (all)."""
        return attribute_sets.known_attributes(labels, self.sets) if self.sets else None

    @property
    def directions(self) -> tuple[str, ...]:
        return ("AtoB",)

    def generator(self, direction: str) -> nn.Module:
        return self.G

    def forward(self, real: torch.Tensor, label_org: torch.Tensor) -> dict[str, torch.Tensor]:
        label_trg = label_org[torch.randperm(label_org.shape[0]).to(label_org.device)]
        fake = self.fwd["G"](real, label_trg)
        return {"real": real, "org": label_org, "trg": label_trg, "fake": fake}

    def loss(self, phase: str, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        D, real, fake = self.fwd["D"], out["real"], out["fake"]
        if phase == "d":
            src_real, cls_real = D(real)
            src_fake, _ = D(fake.detach())
            penalty = gradient_penalty(lambda x: D(x)[0], real, fake)
            k = self.n_attributes  # the mask (several datasets) is G's input, not a D class
            parts = stargan_d_loss(src_real, cls_real, src_fake, penalty, out["org"][:, :k],
                                   self.lambda_cls, self.lambda_gp, self._known(out["org"]))
            return parts.pop("loss_d"), parts
        src_fake, cls_fake = D(fake)
        reconstruction = self.fwd["G"](fake, out["org"])
        parts = stargan_g_loss(src_fake, cls_fake, out["trg"][:, :self.n_attributes], reconstruction, real,
                               self.lambda_cls, self.lambda_rec, self._known(out["trg"]))
        return parts.pop("loss_g"), parts

    # ---- class facts ----------------------------------------------------------------------------
    @classmethod
    def check(cls, config: Config) -> None:
        tc = config.translation
        kind, _ = generator_kind(tc.generator)
        if kind != "resnet":
            raise GanforgeError(f"translation.generator={tc.generator}: StarGAN's G is a ResNet; "
                                "use resnet_Kblocks (the paper: resnet_6blocks)")
        if tc.norm != "instance":
            raise GanforgeError(f"translation.norm={tc.norm}: StarGAN's G uses affine instance "
                                "norm; set translation.norm=instance")
        if config.train.loss != "wasserstein":
            raise GanforgeError(f"train.loss={config.train.loss}: StarGAN trains with WGAN-GP; "
                                "set train.loss=wasserstein")
        if tc.channels_a != tc.channels_b:
            raise GanforgeError("StarGAN translates within one domain: set translation.channels_b "
                                f"= translation.channels_a ({tc.channels_a})")
        sets = list(getattr(tc, "attribute_sets", []))
        if sets and tc.attributes and (sum(sets) != len(tc.attributes) or min(sets) < 1):
            raise GanforgeError(f"translation.attribute_sets={sets} must give each dataset at least one "
                                f"of the {len(tc.attributes)} translation.attributes, summing to "
                                f"{len(tc.attributes)}; leave it [] (the data fills it in)")
        multiple = max(2**SAMPLINGS, 2**tc.n_layers_d)
        if tc.crop_size % multiple:
            raise GanforgeError(
                f"translation.crop_size={tc.crop_size} does not fit StarGAN's D with "
                f"translation.n_layers_d={tc.n_layers_d} stride-2 convs: use a multiple of "
                f"{multiple} (or fewer D layers)")

    @classmethod
    def size_multiple(cls, tc: TranslationConfig) -> int:
        return 2**SAMPLINGS

    @classmethod
    def network_names(cls, tc: TranslationConfig) -> dict[str, str]:
        return {"AtoB": "G"}

    @classmethod
    def inference_networks(cls, tc: TranslationConfig) -> dict[str, nn.Module]:
        return {"AtoB": _generator(tc)}

    @classmethod
    def grid_rows(cls, tc: TranslationConfig, generator_of: Any, samples: dict[str, torch.Tensor],
                  mode: str, seed: int) -> list[torch.Tensor]:
        """The inputs, then one row per attribute: each input with that attribute flipped."""
        g, x, labels, sets = generator_of("AtoB"), samples["a"], samples["attrs"], _sets(tc)
        rows = [x.float().div(127.5).sub(1.0)]
        targets = attribute_sets.flipped_targets(labels, sets) if sets else flipped_targets(labels)
        for target in targets:
            rows.append(run_generator(g, x, mode, seed, target))
        return rows
