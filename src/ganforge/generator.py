"""The one generator type: whatever it was loaded from, it draws its own latents and generates.

    g = ganforge.load("runs/biggan-digits")      # run dir, exported folder/file, converted
    images = g.sample(classes=["7"], n=8, truncation=0.5, seed=0)   # BigGAN-deep, or a hub id

A `Generator` hides what differs between sources: how truncated noise is drawn (its
`truncation_convention`: the paper's re-drawing by default, BigGAN-PyTorch's std scaling, or the
TF-Hub modules' `t * TN(-2, 2)`, which BigGAN-deep's per-truncation BN statistics require),
whether the network takes the truncation, and how class names map to indices. A translation generator
(pix2pix's G, CycleGAN's G_AB and G_BA) maps images to images with `translate` instead.

It lives low (beside `sampling`) so that metrics and training use it without loading code:
`ganforge.generators` builds it from files, `ganforge.metrics` evaluates it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torch import nn

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.models.gigagan_upsampler import pack
from ganforge.nn.bn_modes import (
    BNMode,
    StandingStatistics,
    batch_statistics,
    batchnorms,
    parse_bn_mode,
    restore_buffers,
    running_buffers,
)
from ganforge.sampling import (
    DEFAULT_CONVENTION,
    check_convention,
    class_ids,
    draw_latents,
    generate,
    to_uint8,
)
from ganforge.text import build_tokenizer
from ganforge.translation.inference import run_generator
from ganforge.translation.models import method_class

ARCHITECTURES = ("ganforge", "biggan-deep", "translation")
DIRECTIONS = ("AtoB", "BtoA")
SAMPLE_BATCH = 64
STANDING_SEED = 0  # latents and labels of the standing-statistics passes
BATCH_ORDER_SEED = 0  # the order in which `--bn batch` groups samples into batches


@dataclass
class Generator:
    """A generator in eval mode with everything needed to sample from it.

    `architecture`: "ganforge" (any GAN recipe; `config` is its training config), "biggan-deep"
    (the public pretrained generators; `model_config` holds their config.json fields) or
    "translation" (`translators` maps each direction it has, "AtoB"/"BtoA", to its network;
    `generator` is the first of them; `config` is the run's config).
    """

    generator: nn.Module | None
    class_names: list[str]
    architecture: str = "ganforge"
    config: Config | None = None
    model_config: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)  # provenance and evaluation, for the card
    translators: dict[str, nn.Module] = field(default_factory=dict)
    truncation_convention: str = ""  # "" = the source's own: "tfhub" for BigGAN-deep, "psi" for
    # style-based generators (StyleGAN2), else "resample"
    truncation_cutoff: int | None = None  # psi: truncate the first N styles only (None: all)
    bn_mode: BNMode | None = None  # None = the source's own: the card's "bn" (TF-Hub BigGAN:
    # per-truncation), else running
    _bn_cache: dict[tuple[float, str], dict] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise GanforgeError(f"unknown generator architecture '{self.architecture}'")
        if self.architecture == "translation":
            if self.config is None or not self.translators or set(self.translators) - set(DIRECTIONS):
                raise GanforgeError("a translation generator needs its config and its networks "
                                    "by direction (AtoB, BtoA)")
            self.generator = self.generator or next(iter(self.translators.values()))
        elif self.generator is None:
            raise GanforgeError(f"a {self.architecture} generator needs its network")
        for net in self.networks():
            net.eval().requires_grad_(False)
        own = "tfhub" if self.takes_truncation else "psi" if self.style_based else DEFAULT_CONVENTION
        self.use_truncation_convention(self.truncation_convention or self.card.get(
            "truncation_convention", own))
        self.use_cutoff(self.truncation_cutoff)
        self.bn_mode = None if self.bn_mode is None else parse_bn_mode(self.bn_mode)
        self.use_bn(self.bn_mode or self.card.get("bn", "running"))
        if hasattr(self.generator, "bake"):  # BigGAN-deep: normalise its 100+ SN weights once
            self.generator.bake()

    # ---- what the generator is ------------------------------------------------------------------
    @property
    def is_translator(self) -> bool:
        return self.architecture == "translation"

    def networks(self) -> list[nn.Module]:
        return list(self.translators.values()) if self.is_translator else [self.generator]

    @property
    def dim_z(self) -> int:
        self._need_gan("latents")
        return int(self.generator.dim_z)

    @property
    def n_classes(self) -> int:
        """Number of classes; 0 for an unconditional generator (and a translation generator)."""
        if self.is_translator or (self.config is not None and not self.config.model.conditional):
            return 0
        return len(self.class_names)

    @property
    def resolution(self) -> int:
        if self.is_translator:
            return self.config.translation.crop_size
        if self.config is not None:
            return self.config.model.resolution
        return int(self.generator.resolution)

    @property
    def takes_truncation(self) -> bool:
        """BigGAN-deep picks BN statistics by truncation, so truncation is part of its input."""
        return self.architecture == "biggan-deep"

    @property
    def style_based(self) -> bool:
        """StyleGAN2-style: a mapping network whose W the network truncates by psi itself."""
        return not self.is_translator and hasattr(self.generator, "num_ws")

    @property
    def soft_classes(self) -> bool:
        """Whether float class vectors (mixes of classes) are understood: class interpolation."""
        if self.architecture == "biggan-deep":
            return True
        return self.architecture == "ganforge" and self.config is not None and (
            self.config.model.conditional and self.config.model.arch in ("biggan", "dcgan", "mlp", "stylegan2")
        )

    @property
    def takes_layout(self) -> bool:
        """Whether the network draws from layouts of labelled boxes (LostGAN)."""
        return not self.is_translator and bool(getattr(self.generator, "takes_layout", False))

    def sample_layout(self, layouts: torch.Tensor, n: int = 1, truncation: float | None = None,
                      seed: int = 0) -> torch.Tensor:
        """n images per layout (L, O, 5) (layout-major), in [-1, 1]. Column j uses the same z for
        every layout, and z holds one style code per object slot, so an object keeps its style
        when the layout is edited (moved, relabelled, others added or removed)."""
        if n <= 0:
            raise GanforgeError(f"n must be a positive integer, got {n}")
        z = self.latents(n, truncation, seed).repeat(layouts.shape[0], 1)
        return self.generate(z, layouts.float().repeat_interleave(n, 0), truncation)

    @property
    def takes_text(self) -> bool:
        """Whether the network draws from captions (text-to-image: GAN-CLS, GigaGAN)."""
        return not self.is_translator and bool(getattr(self.generator, "takes_text", False))

    def text_ids(self, texts: Sequence[str]) -> torch.Tensor:
        """Sentences -> token ids (N, L) with the run's own tokenizer (`text.*` of its config);
        an unknown word is a one-line error naming it."""
        if not self.takes_text or self.config is None:
            raise GanforgeError("this generator draws from class labels, not text; --text needs a "
                                "text-to-image run (recipes gan-cls, gigagan)")
        if not texts:
            raise GanforgeError("give at least one --text sentence")
        return build_tokenizer(self.config.text).encode(list(texts))

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """Sentence embeddings phi(t) (N, E) for generators that take them as y (GAN-CLS)."""
        if not self.soft_text:
            raise GanforgeError("this generator does not take sentence embeddings; text interpolation "
                                "needs a GAN-CLS run (model.arch=gancls)")
        with torch.no_grad():
            return self.generator.text(self.text_ids(texts).to(self.device)).sentence.cpu()

    @property
    def upsamples(self) -> bool:
        """A text-conditioned upsampler (gigagan-upsampler): y packs caption ids and a low-res image."""
        return self.takes_text and bool(getattr(self.generator, "packs_low_res", False))

    @torch.no_grad()
    def upsample(self, images: torch.Tensor, texts: Sequence[str], truncation: float | None = None,
                 seed: int = 0) -> torch.Tensor:
        """Images in [-1, 1] (N, C, r, r) at this upsampler's input size and the caption of each
        -> (N, C, R, R) in [-1, 1]; same seed, same images (chain it after a base generator)."""
        if not self.upsamples:
            raise GanforgeError("this generator is not an upsampler (recipe gigagan-upsampler)")
        low = int(self.generator.low_resolution)
        if images.ndim != 4 or tuple(images.shape[1:]) != (self.config.model.img_channels, low, low):
            raise GanforgeError(f"the upsampler takes {self.config.model.img_channels}x{low}x{low} images, got "
                                f"{tuple(images.shape[1:])}: chain it after a {low} px base generator")
        if len(texts) != len(images):
            raise GanforgeError(f"{len(images)} images but {len(texts)} captions")
        y = pack(self.text_ids(texts), images.float().clamp(-1, 1))
        return self.generate(self.latents(len(images), truncation, seed), y, truncation)

    @property
    def soft_text(self) -> bool:
        """Whether float y are understood as sentence embeddings (GAN-CLS: text interpolation)."""
        return self.takes_text and self.config is not None and self.config.model.arch == "gancls"

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: str | torch.device) -> Generator:
        for net in self.networks():
            net.to(device)
        return self

    def _need_gan(self, what: str) -> None:
        if self.is_translator:
            raise GanforgeError(f"this is an image-to-image translation generator: it has no {what}; "
                                "translate images with it (ganforge translate SOURCE INPUT)")

    # ---- inputs -----------------------------------------------------------------------------------
    def use_truncation_convention(self, name: str | None) -> Generator:
        """Draw truncated latents in the named convention from now on (None: keep the current)."""
        if name is None:
            return self
        check_convention(name)
        if self.takes_truncation and name != "tfhub":
            raise GanforgeError("BigGAN-deep's BN statistics are stored for the 'tfhub' truncation "
                                f"convention (t * TN(-2, 2)); '{name}' would not match them")
        if name == "psi" and not self.style_based:
            raise GanforgeError("the 'psi' truncation convention truncates StyleGAN's W; this "
                                f"{self.architecture} generator has none (use resample, scale or tfhub)")
        self.truncation_convention = name
        return self

    def use_cutoff(self, cutoff: int | None) -> Generator:
        """psi truncation on the first `cutoff` styles only (StyleGAN's coarse layers; None: all)."""
        if cutoff is None:
            self.truncation_cutoff = None
            return self
        if not self.style_based:
            raise GanforgeError("--cutoff picks StyleGAN styles to truncate; this generator has none")
        num_ws = int(self.generator.num_ws)
        if not 1 <= int(cutoff) <= num_ws:
            raise GanforgeError(f"--cutoff must be between 1 and {num_ws} (this generator's styles), got {cutoff}")
        self.truncation_cutoff = int(cutoff)
        return self

    def network_extra(self, truncation: float | None) -> tuple[Any, ...]:
        """What the network takes after (z, y): BigGAN-deep its truncation, a style-based
        generator psi (1 when untruncated) and the cutoff under the psi convention."""
        if self.takes_truncation:
            return (truncation,)
        if self.truncation_convention == "psi":
            return (1.0 if truncation is None else truncation, self.truncation_cutoff)
        return ()

    def use_bn(self, mode: str | BNMode | None) -> Generator:
        """Sample with BN's running statistics, each batch's own, or standing statistics (see
        `ganforge.nn.bn_modes`); None keeps the current mode."""
        if mode is None:
            return self
        parsed = parse_bn_mode(mode)
        if parsed.kind != "running" and not (self.generator is not None and batchnorms(self.generator)):
            raise GanforgeError(f"--bn {parsed.name} needs BatchNorm layers with statistics; this "
                                f"{self.architecture} generator has none (BigGAN-deep stores its "
                                "statistics per truncation: use --bn running)")
        self.bn_mode = parsed
        self._bn_cache.clear()
        return self

    @torch.no_grad()
    def _standing_statistics(self, truncation: float | None) -> None:
        """Replace BN's stored statistics by standing statistics at this truncation (seeded:
        the same every time). The caller restores the stored ones afterwards. Per-truncation
        statistics are computed once per truncation (and convention) and kept, as the TF-Hub
        module keeps its accumulators until the truncation changes."""
        key = (float(truncation or 1.0), self.truncation_convention)
        if self.bn_mode.kind == "per-truncation" and key in self._bn_cache:
            restore_buffers(self.generator, self._bn_cache[key])
            return
        rng = torch.Generator().manual_seed(STANDING_SEED)
        count, device = self.bn_mode.batch_size, self.device
        extra = self.network_extra(truncation)
        stats = StandingStatistics(self.generator)
        with batch_statistics(self.generator):
            for _ in range(self.bn_mode.accumulations):
                z = self.draw_latents(count, truncation, rng)
                y = torch.randint(0, max(self.n_classes, 1), (count,), generator=rng)
                self.generator(z.to(device), y.to(device), *extra)
                stats.step()
        stats.store()
        if self.bn_mode.kind == "per-truncation":
            self._bn_cache[key] = running_buffers(self.generator)

    def check_truncation(self, truncation: float | None) -> float | None:
        if truncation is None:
            return 1.0 if self.truncation_convention == "tfhub" else None
        if not truncation > 0:
            raise GanforgeError(f"truncation must be a positive number, got {truncation}")
        if self.takes_truncation and truncation > 1:
            raise GanforgeError(f"BigGAN-deep's truncation must be in (0, 1], got {truncation}")
        return float(truncation)

    def latents(self, count: int, truncation: float | None = None, seed: int = 0) -> torch.Tensor:
        """`count` latent vectors; the same seed and truncation give the same vectors."""
        return self.draw_latents(count, truncation, torch.Generator().manual_seed(seed))

    def draw_latents(
        self, count: int, truncation: float | None, rng: torch.Generator
    ) -> torch.Tensor:
        """`count` latents drawn from `rng` in this generator's own truncation convention."""
        truncation = self.check_truncation(truncation)
        return draw_latents((count, self.dim_z), truncation, self.truncation_convention, rng)

    def class_ids(self, classes: Sequence[int | str] | None) -> list[int]:
        """Names (exact, or case-insensitive synonym like "golden retriever") or ids -> ids."""
        self._need_gan("classes")
        if self.n_classes == 0:  # G ignores the label; given classes still make one row each
            if classes and not self.class_names:
                raise GanforgeError("this generator is unconditional: it takes no classes")
            return class_ids(classes, self.class_names) if classes else [0]
        if not classes:
            return list(range(min(self.n_classes, 10)))
        return class_ids(classes, self.class_names)

    def class_vectors(self, ids: Sequence[int]) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.tensor(list(ids)), self.n_classes).float()

    # ---- generating -------------------------------------------------------------------------------
    def generate(
        self, z: torch.Tensor, y: torch.Tensor, truncation: float | None = None,
        batch_size: int = SAMPLE_BATCH, convert: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Images in [-1, 1] (N, C, H, W) on the CPU for latents z and labels y (each batch passed
        through `convert` when given, e.g. to uint8 so that large sets stay small).

        y: class ids (N,) or float class vectors (N, n_classes) for generators that mix classes.
        """
        self._need_gan("latents")
        if self.takes_text and not y.is_floating_point() and y.ndim != 2:
            raise GanforgeError("this generator draws from text, not class labels: use sample --text / "
                                "interpolate --mode text; text metrics are in ganforge.metrics.text")
        if self.takes_layout and y.ndim != 3:
            raise GanforgeError("this generator draws from layouts, not class labels: use sample --layout; "
                                "ganforge eval draws it for its data's layouts (metrics obj_acc, box_iou)")
        if y.is_floating_point() and not (self.soft_classes or self.soft_text or self.takes_layout
                                          or self.upsamples):
            raise GanforgeError("this generator takes class ids only; mixing classes needs a "
                                "BigGAN-style class embedding (arch biggan, dcgan, mlp or biggan-deep)")
        truncation = self.check_truncation(truncation)
        extra = self.network_extra(truncation)
        kind = self.bn_mode.kind
        if kind == "running" or (kind == "per-truncation" and truncation in (None, 1.0)):
            return generate(self.generator, y, z=z, batch_size=batch_size, extra=extra, convert=convert)
        if kind in ("standing", "per-truncation"):  # the network's own statistics are put back
            saved = running_buffers(self.generator)  # after: training's G_ema keeps averaging them
            try:
                self._standing_statistics(truncation)
                return generate(self.generator, y, z=z, batch_size=batch_size, extra=extra,
                                convert=convert)
            finally:
                restore_buffers(self.generator, saved)
        # batch statistics: batches mix the requested samples in a fixed order (a class-major grid
        # would otherwise normalise each class on its own), then the order is put back
        order = torch.randperm(y.shape[0], generator=torch.Generator().manual_seed(BATCH_ORDER_SEED))
        with batch_statistics(self.generator):
            images = generate(self.generator, y[order], z=z[order], extra=extra, convert=convert,
                              batch_size=self.bn_mode.batch_size or batch_size)
        return images[torch.argsort(order)]

    def sample(
        self,
        classes: Sequence[int | str] | None = None,
        n: int = 1,
        truncation: float | None = None,
        seed: int = 0,
    ) -> torch.Tensor:
        """n images per class (class-major order), in [-1, 1]; same seed, same images."""
        if n <= 0:
            raise GanforgeError(f"n must be a positive integer, got {n}")
        if self.takes_text:
            raise GanforgeError("this generator draws from text: use sample_text(texts, n, ...)")
        ids = self.class_ids(classes)
        labels = torch.tensor(ids).repeat_interleave(n)
        z = self.latents(labels.shape[0], truncation, seed)
        return self.generate(z, labels, truncation)

    def sample_text(self, texts: Sequence[str], n: int = 1, truncation: float | None = None,
                    seed: int = 0) -> torch.Tensor:
        """n images per sentence (sentence-major order), in [-1, 1]; same seed, same images."""
        if n <= 0:
            raise GanforgeError(f"n must be a positive integer, got {n}")
        if self.upsamples:
            raise GanforgeError("this is a text-conditioned upsampler: it draws from a low-resolution image and "
                                "its caption; chain it: ganforge sample BASE_RUN --text ... --upsampler THIS_RUN")
        ids = self.text_ids(texts).repeat_interleave(n, 0)
        z = self.latents(ids.shape[0], truncation, seed)
        return self.generate(z, ids, truncation)

    def images(self, *args: Any, **kwargs: Any) -> list[Image.Image]:
        """`sample(...)` as PIL images."""
        arrays = to_uint8(self.sample(*args, **kwargs))
        return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arrays]

    # ---- translating ------------------------------------------------------------------------------
    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(self.translators)

    def network(self, direction: str | None = None) -> nn.Module:
        """The translation network of `direction` (default: the first this generator has)."""
        if not self.is_translator:
            raise GanforgeError("this generator draws from latents; only translation generators "
                                "(pix2pix, CycleGAN) translate images")
        direction = direction or self.directions[0]
        if direction not in DIRECTIONS:
            raise GanforgeError(f"--direction must be AtoB or BtoA, got '{direction}'")
        if direction not in self.translators:
            mode = self.config.translation.mode
            hint = (f" (train one with translation.direction={direction})"
                    if "direction" in self.config.translation.__dataclass_fields__ else "")
            raise GanforgeError(
                f"this {mode} run translates {self.directions[0]} only; it has no "
                f"{direction} generator{hint}"
            )
        return self.translators[direction]

    @property
    def condition(self) -> str:
        """What the translator takes besides the image: "none", "attributes" (StarGAN's target
        labels) or "latent" (BicycleGAN's codes)."""
        self.network()  # translation generators only
        return method_class(self.config.translation.mode).condition

    def translate(
        self, images: torch.Tensor, direction: str | None = None, seed: int = 0,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Translations in [-1, 1] (CPU) of uint8 or [-1, 1] images, in the run's inference mode
        (`translation.inference`: batch_stats, the pix2pix paper's, or running_stats), seeded.
        A conditional translator needs `condition`: (N, K) target labels or (N, nz) codes."""
        network = self.network(direction)
        if (condition is None) != (self.condition == "none"):
            raise GanforgeError(
                f"this {self.config.translation.mode} generator takes "
                f"{'no condition' if self.condition == 'none' else 'a ' + self.condition + ' condition'}"
            )
        return run_generator(network, images, self.config.translation.inference, seed, condition)
