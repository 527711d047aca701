"""SPADE / GauGAN (Park et al. 2019): images from semantic label maps. G is a SPADE generator
(`models.spade`), D a multi-scale PatchGAN on (one-hot map, image) with feature matching, the
losses hinge + FM (+ KL with the VAE style encoder, + VGG when weights are given).

One step, in the authors' order (their trainer: G step, then D step): the forward pass makes
the fakes (with the VAE: z = mu + sigma * eps from E(real image)); G (and E) step on hinge + FM
(+ KL, + VGG) with D frozen; then D steps on fakes made afresh, without gradients, by the
updated G (the authors' `compute_discriminator_loss` generates again). D sees fake and real
concatenated in one batch, as theirs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.config import Config, TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.models.code_encoder import reparameterise
from ganforge.models.spade import (
    UPSAMPLINGS,
    SPADEDiscriminator,
    SPADEEncoder,
    SPADEGenerator,
    VGG19Features,
    init_xavier,
)
from ganforge.translation.inference import run_generator
from ganforge.translation.label_instances import edge_channels
from ganforge.translation.label_maps import (
    colourise,
    decode_ids,
    instance_edges,
    one_hot,
    semantic_classes,
    unpack_instances,
)
from ganforge.translation.method import TranslationMethod
from ganforge.translation.spade_losses import (
    feature_matching,
    hinge_d,
    hinge_g,
    kl_divergence,
    split_halves,
    vgg_loss,
)


class SemanticGenerator(SPADEGenerator):
    """SPADE's G as the translation task runs it: it takes the label map as the task carries any
    image (ids as x = id / 127.5 - 1) and makes the semantic input, the one-hot map and, with
    instance edges, the edge channel (the authors' `preprocess_input`); `synthesize` takes the
    semantic input. With the VAE, z defaults to N(0, I) from the global RNG.

    With instance edges, a map of three channels (class, instance number high, low byte) gives
    the edges of its instances; a map of class ids alone (a painted map, a label file without
    its instance map) gives the edges of its class regions, which are the instance edges
    wherever no two instances of one class touch."""

    def __init__(self, classes: int, *args: Any, edges: bool = False, **kwargs: Any) -> None:
        super().__init__(classes + int(edges), *args, **kwargs)
        self.classes, self.edges = classes, edges

    def forward(self, labels: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        return self.synthesize(self.semantics(labels), z)

    def semantics(self, labels: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = dtype or (labels.dtype if labels.is_floating_point() else torch.float32)
        ids = decode_ids(labels)
        semantics = one_hot(ids[:, :1], self.classes, dtype)
        if not self.edges:
            return semantics
        instances = unpack_instances(ids) if ids.shape[1] == 3 else ids[:, :1]
        return torch.cat([semantics, instance_edges(instances).to(dtype)], 1)

    def synthesize(self, semantics: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(semantics, z)


def _generator(tc: TranslationConfig) -> SemanticGenerator:
    net = SemanticGenerator(semantic_classes(tc.label_nc, tc.contain_dontcare_label), tc.channels_b,
                            tc.ngf, tc.crop_size, tc.num_upsampling_layers, tc.use_vae, tc.z_dim,
                            tc.spectral_g, tc.param_free_norm, tc.spade_hidden, edges=bool(edge_channels(tc)))
    init_xavier(net, tc.init_gain)
    return net


def load_vgg19(path: str) -> VGG19Features:
    """VGG19's trunk from a torchvision-format state dict (`features.N.weight`, .pth or
    .safetensors); the classifier's keys are ignored."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise GanforgeError(f"translation.vgg_weights: {file} does not exist")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(file))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise GanforgeError(f"translation.vgg_weights: cannot read {file} ({exc})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    vgg = VGG19Features()
    wanted = vgg.state_dict()
    found = {k if k.startswith("features.") else f"features.{k}": v for k, v in state.items()
             if not k.startswith("classifier.")}
    found = {k: v for k, v in found.items() if k in wanted}
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise GanforgeError(f"translation.vgg_weights: {file} is not a VGG19 state dict (no {missing[0]}); "
                            "use torchvision's vgg19 weights")
    try:
        vgg.load_state_dict(found)
    except RuntimeError as exc:
        raise GanforgeError(f"translation.vgg_weights: {file} does not fit VGG19 "
                            f"({str(exc).splitlines()[-1].strip()})") from None
    return vgg.eval()


class SPADE(TranslationMethod):
    """The networks and losses of a SPADE run."""

    data_kind = "paired"
    condition = "none"
    order = ("g", "d")
    generator_names = ("G",)

    def __init__(self, tc: TranslationConfig, loss: str, pool_seed: int) -> None:
        self.classes = semantic_classes(tc.label_nc, tc.contain_dontcare_label)
        self.G = _generator(tc)
        semantic_nc = self.classes + edge_channels(tc)  # D sees the edges too, as the authors'
        self.D = SPADEDiscriminator(semantic_nc + tc.channels_b, tc.ndf, tc.n_layers_d, tc.num_d)
        init_xavier(self.D, tc.init_gain)
        self.networks: dict[str, nn.Module] = {"G": self.G, "D": self.D}
        self.param_groups = {"g": ("G",), "d": ("D",)}
        if tc.use_vae:
            self.E = SPADEEncoder(tc.channels_b, tc.ngf, tc.crop_size, tc.z_dim)
            init_xavier(self.E, tc.init_gain)
            self.networks["E"] = self.E
            self.param_groups["g"] = ("G", "E")
        self.fwd: dict[str, Any] = dict(self.networks)
        self.pools = {}
        self.use_vae = tc.use_vae
        self.weights = {"feat": tc.lambda_feat, "kld": tc.lambda_kld, "vgg": tc.lambda_vgg}
        building = torch.empty(0).device.type != "meta"  # not the size check's shapes-only copy
        self.vgg = load_vgg19(tc.vgg_weights) if tc.vgg_weights and tc.lambda_vgg > 0 and building else None
        if self.vgg is None and building:
            reason = "translation.lambda_vgg=0" if tc.vgg_weights else "no translation.vgg_weights given"
            print(f"spade: the VGG perceptual loss is off ({reason})", file=sys.stderr)

    @property
    def directions(self) -> tuple[str, ...]:
        return ("AtoB",)

    def generator(self, direction: str) -> nn.Module:
        return self.G

    def _fake(self, semantics: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        z = None
        if self.use_vae:
            out["mu"], out["logvar"] = self.fwd["E"](real)
            z = reparameterise(out["mu"], out["logvar"])
        out["fake"] = self.G.synthesize(semantics, z)
        return out

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        semantics = self.G.semantics(real_a, real_b.dtype)
        return {"semantics": semantics, "real": real_b, **self._fake(semantics, real_b)}

    def _discriminate(self, semantics: torch.Tensor, fake: torch.Tensor, real: torch.Tensor) -> tuple[Any, Any]:
        pair = torch.cat([torch.cat([semantics, fake], 1), torch.cat([semantics, real], 1)], 0)
        return split_halves(self.fwd["D"](pair))

    def loss(self, phase: str, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        semantics, real = out["semantics"], out["real"]
        if phase == "g":
            pred_fake, pred_real = self._discriminate(semantics, out["fake"], real)
            parts = {"loss_g_gan": hinge_g(pred_fake),
                     "loss_g_feat": feature_matching(pred_fake, pred_real, self.weights["feat"])}
            if self.use_vae:
                parts["loss_g_kld"] = kl_divergence(out["mu"], out["logvar"]) * self.weights["kld"]
            if self.vgg is not None:
                self.vgg.to(real.device)
                parts["loss_g_vgg"] = vgg_loss(self.vgg, out["fake"], real) * self.weights["vgg"]
            return sum(parts.values()), parts  # type: ignore[return-value]
        with torch.no_grad():  # the authors' D step: fakes made again by the updated G
            fake = self._fake(semantics, real)["fake"].detach()
        pred_fake, pred_real = self._discriminate(semantics, fake, real)
        parts = {"loss_d_fake": hinge_d(pred_fake, real=False), "loss_d_real": hinge_d(pred_real, real=True)}
        return parts["loss_d_fake"] + parts["loss_d_real"], parts

    # ---- class facts ----------------------------------------------------------------------------
    @classmethod
    def check(cls, config: Config) -> None:
        tc = config.translation
        if config.train.loss != "hinge":
            raise GanforgeError(f"train.loss={config.train.loss}: SPADE trains with the hinge loss; "
                                "set train.loss=hinge")
        if tc.channels_a != 1:
            raise GanforgeError("SPADE's input is a label map of class ids: set translation.channels_a=1")
        multiple = cls.size_multiple(tc)
        if tc.crop_size % multiple:
            raise GanforgeError(f"translation.crop_size={tc.crop_size} does not fit SPADE's G with "
                                f"num_upsampling_layers={tc.num_upsampling_layers}: use a multiple of {multiple}")
        if tc.param_free_norm == "instance" and tc.crop_size // multiple < 2:
            raise GanforgeError(f"translation.crop_size={tc.crop_size} starts G at 1x1, where instance norm has "
                                "nothing to normalise; use translation.param_free_norm=batch or a crop of at "
                                f"least {2 * multiple}")
        side = tc.crop_size
        for _ in range(tc.num_d - 1):
            side = (side - 1) // 2 + 1
        if side < 2 ** (tc.n_layers_d - 1):
            raise GanforgeError(f"translation.num_d={tc.num_d} scales leave {side} px at the coarsest, too "
                                f"small for a PatchGAN with n_layers_d={tc.n_layers_d}; use fewer scales or layers")

    @classmethod
    def size_multiple(cls, tc: TranslationConfig) -> int:
        return 2 ** UPSAMPLINGS[tc.num_upsampling_layers]

    @classmethod
    def network_names(cls, tc: TranslationConfig) -> dict[str, str]:
        return {"AtoB": "G"}

    @classmethod
    def inference_networks(cls, tc: TranslationConfig) -> dict[str, nn.Module]:
        return {"AtoB": _generator(tc)}

    @classmethod
    def grid_rows(cls, tc: TranslationConfig, generator_of: Any, samples: dict[str, torch.Tensor],
                  mode: str, seed: int) -> list[torch.Tensor]:
        """The label maps in palette colours (instance edges in white), the generated images,
        the real images."""
        classes = semantic_classes(tc.label_nc, tc.contain_dontcare_label)
        ids = samples["a"].long()
        maps = colourise(ids[:, :1], classes)
        if ids.shape[1] == 3:
            maps = torch.where(instance_edges(unpack_instances(ids)), 255, maps).byte()
        maps = maps.float().div(127.5).sub(1.0)
        output = run_generator(generator_of("AtoB"), samples["a"], mode, seed)
        return [maps, output, samples["b"].float().div(127.5).sub(1.0)]
