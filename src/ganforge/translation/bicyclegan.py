"""BicycleGAN (Zhu et al. 2017): multimodal paired translation, G(A, z) with an encoder E that
maps an image to a Gaussian over z, trained with the cVAE-GAN cycle (B -> z -> B) and the
cLR-GAN cycle (z -> B -> z) at once (`bicyclegan_losses`).

One step, in the authors' order: the forward passes (the batch splits in halves: the first
half's B is encoded, its A also gets a random code; the second half's B is D2's real); one step
of G and E (one Adam over both) with the discriminators frozen, the latent regression reaching
G only; then one step of D and D2 on the same fakes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from ganforge.config import Config, TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.models.code_encoder import CodeEncoder, reparameterise
from ganforge.models.common import init_xavier
from ganforge.models.patchgan import MultiScaleDiscriminator, patch_output_size
from ganforge.models.unet_z import UNetWithCode
from ganforge.translation.bicyclegan_losses import bicyclegan_g_loss, d_loss, gan_criterion
from ganforge.translation.conditions import latent_codes
from ganforge.translation.inference import run_generator
from ganforge.translation.method import TranslationMethod
from ganforge.translation.networks import generator_kind

GRID_CODES = 4  # rows of random codes in the progress grid
GRID_SEED = 1234


def _channels(tc: TranslationConfig) -> tuple[int, int]:
    return (tc.channels_a, tc.channels_b) if tc.direction == "AtoB" else (tc.channels_b, tc.channels_a)


def _generator(tc: TranslationConfig) -> UNetWithCode:
    _, downs = generator_kind(tc.generator)
    c_in, c_out = _channels(tc)
    net = UNetWithCode(c_in, c_out, tc.nz, downs, tc.ngf, tc.norm, tc.dropout, tc.z_injection)
    init_xavier(net, tc.init_gain)
    return net


class BicycleGAN(TranslationMethod):
    """The networks and losses of a BicycleGAN run."""

    data_kind = "paired"
    condition = "latent"
    order = ("g", "d")  # G and E step first, then D and D2 on the same fakes
    generator_names = ("G",)

    def __init__(self, tc: TranslationConfig, loss: str, pool_seed: int) -> None:
        c_in, c_out = _channels(tc)
        d_in = c_in + c_out if tc.conditional_d else c_out
        self.G = _generator(tc)
        self.E = CodeEncoder(c_out, tc.nz, tc.nef, tc.encoder_blocks, tc.norm)
        self.D = MultiScaleDiscriminator(d_in, tc.ndf, tc.n_layers_d, tc.norm, tc.num_d)
        self.D2 = MultiScaleDiscriminator(d_in, tc.ndf, tc.n_layers_d, tc.norm, tc.num_d)
        for net in (self.E, self.D, self.D2):
            init_xavier(net, tc.init_gain)
        self.networks: dict[str, nn.Module] = {"G": self.G, "E": self.E, "D": self.D, "D2": self.D2}
        self.fwd: dict[str, Any] = dict(self.networks)
        self.param_groups = {"g": ("G", "E"), "d": ("D", "D2")}
        self.pools = {}
        self.direction, self.nz, self.conditional_d = tc.direction, tc.nz, tc.conditional_d
        self.criterion = gan_criterion(loss)
        self.weights = {"gan": tc.lambda_gan, "gan2": tc.lambda_gan2, "l1": tc.lambda_l1,
                        "kl": tc.lambda_kl, "latent": tc.lambda_latent}

    @property
    def directions(self) -> tuple[str, ...]:
        return (self.direction,)

    def generator(self, direction: str) -> nn.Module:
        return self.G

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = (real_a, real_b) if self.direction == "AtoB" else (real_b, real_a)
        half = x.shape[0] // 2
        a, b, a_random, b_random = x[:half], y[:half], x[half:], y[half:]
        mu, logvar = self.fwd["E"](b)
        z_encoded = reparameterise(mu, logvar)
        z_random = torch.randn(half, self.nz).to(x.device)
        g = self.fwd["G"]
        return {"a": a, "b": b, "a_random": a_random, "b_random": b_random, "mu": mu, "logvar": logvar,
                "z_random": z_random, "fake_encoded": g(a, z_encoded), "fake_random": g(a, z_random)}

    def _d_input(self, a: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, image], 1) if self.conditional_d else image

    def loss(self, phase: str, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        D, D2, a = self.fwd["D"], self.fwd["D2"], out["a"]
        if phase == "g":
            # the latent regression reaches G only: E's weights enter as constants
            frozen = {k: v.detach() for k, v in self.E.named_parameters()}
            mu_random, _ = functional_call(self.E, frozen, (out["fake_random"],))
            parts = bicyclegan_g_loss(
                self.criterion, D(self._d_input(a, out["fake_encoded"])),
                D2(self._d_input(a, out["fake_random"])), out["fake_encoded"], out["b"],
                out["mu"], out["logvar"], mu_random, out["z_random"], self.weights)
            return parts.pop("loss_g"), parts
        # the second half's real pairs are D2's real (the authors' real_data_random)
        loss_d = d_loss(self.criterion, D(self._d_input(a, out["b"])),
                        D(self._d_input(a, out["fake_encoded"].detach())))
        loss_d2 = d_loss(self.criterion, D2(self._d_input(out["a_random"], out["b_random"])),
                         D2(self._d_input(a, out["fake_random"].detach())))
        return loss_d + loss_d2, {"loss_d1": loss_d, "loss_d2": loss_d2}

    # ---- class facts ----------------------------------------------------------------------------
    @classmethod
    def check(cls, config: Config) -> None:
        tc = config.translation
        kind, downs = generator_kind(tc.generator)
        if kind != "unet":
            raise GanforgeError(f"translation.generator={tc.generator}: BicycleGAN's G is a U-Net; "
                                "use unet_N (the paper: unet_256)")
        gan_criterion(config.train.loss)
        if config.train.batch_size % 2:
            raise GanforgeError(f"train.batch_size={config.train.batch_size}: BicycleGAN splits each "
                                "batch in two halves (encoded and random codes); use an even size")
        multiple = max(2**downs, 2**tc.encoder_blocks)
        if tc.crop_size % multiple:
            raise GanforgeError(f"translation.crop_size={tc.crop_size} does not fit {tc.generator} and "
                                f"an encoder of {tc.encoder_blocks} blocks: use a multiple of {multiple}")
        if tc.discriminator != "n_layers" and tc.discriminator != "basic":
            raise GanforgeError("BicycleGAN's discriminators are multi-scale PatchGANs: set "
                                "translation.discriminator=basic or n_layers")
        smallest = tc.crop_size // 2 ** (tc.num_d - 1)
        if patch_output_size(smallest, tc.n_layers_d) < 1:
            raise GanforgeError(f"translation.num_d={tc.num_d} scales leave {smallest} px at the "
                                f"coarsest, too small for a PatchGAN with n_layers_d={tc.n_layers_d}")

    @classmethod
    def size_multiple(cls, tc: TranslationConfig) -> int:
        return 2 ** generator_kind(tc.generator)[1]

    @classmethod
    def network_names(cls, tc: TranslationConfig) -> dict[str, str]:
        return {tc.direction: "G"}

    @classmethod
    def inference_networks(cls, tc: TranslationConfig) -> dict[str, nn.Module]:
        return {tc.direction: _generator(tc)}

    @classmethod
    def grid_rows(cls, tc: TranslationConfig, generator_of: Any, samples: dict[str, torch.Tensor],
                  mode: str, seed: int) -> list[torch.Tensor]:
        """Input, target, then the inputs under GRID_CODES fixed random codes (one per row)."""
        x, y = (samples["a"], samples["b"]) if tc.direction == "AtoB" else (samples["b"], samples["a"])
        g = generator_of(tc.direction)
        rows = [x.float().div(127.5).sub(1.0), y.float().div(127.5).sub(1.0)]
        for code in latent_codes(GRID_CODES, tc.nz, GRID_SEED):
            rows.append(run_generator(g, x, mode, seed, code.expand(len(x), -1)))
        return rows
