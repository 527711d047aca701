"""Evaluating a translation model on its test split: what `metrics.jsonl` ("kind": "eval")
and RUN_DIR/evaluation.json hold.

Per direction d (AtoB, BtoA): with ground truth, `l1_d`, `psnr_d`, `ssim_d`; with a feature
extractor, `fid_d` and `kid_d` of the translations against the target domain's real test
images; for the demo tasks, `digit_accuracy_d` (the shipped digits classifier reads the
translation as the digit it came from). CycleGAN adds `cycle_l1_A` and `cycle_l1_B`, the mean
|G_BA(G_AB(a)) - a| and |G_AB(G_BA(b)) - b|. StarGAN's attribute accuracy and BicycleGAN's
diversity are described in `metrics.translation_conditional`, InstaGAN's context preservation
and instance accuracy in `metrics.translation_instances`. A metric that cannot be computed
is listed under `missing` with the reason.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.metrics.classifiers import class_accuracy
from ganforge.metrics.features import Features, extract, get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.kid import kernel_inception_distance
from ganforge.metrics.segmenter import load_segmenter, mean_iou
from ganforge.metrics.translation_conditional import (
    attribute_scores,
    attribute_translations,
    latent_translations,
    masked_attribute_translations,
    mean_pairwise_distance,
)
from ganforge.metrics.translation_instances import instance_metrics
from ganforge.models.instagan import sequential
from ganforge.translation import demos
from ganforge.translation.attribute_sets import mask_width, split_spec
from ganforge.translation.conditions import latent_codes
from ganforge.translation.data import TranslationData
from ganforge.translation.inference import run_generator
from ganforge.translation.metrics import l1_error, paired_scores
from ganforge.translation.models import method_class

FEATURE_BATCH = 100
KID_SUBSETS = 100
DIVERSITY_CODES = 8  # BicycleGAN: outputs per test input for the diversity measures
DIVERSITY_INPUTS = 50  # ... of this many test inputs
# else the digits classifier
DEMO_FEATURES = {"demo:digit-attributes": "digit_attributes", "demo:digit-canvases": "digit_segmenter",
                 "demo:digit-canvases-touching": "digit_segmenter"}
# label-map data: the mIoU judge
DEMO_SEGMENTERS = {"demo:digit-canvases": "digit_segmenter", "demo:digit-canvases-touching": "digit_segmenter"}


class TranslationModel(Protocol):
    directions: tuple[str, ...]

    def generator(self, direction: str) -> nn.Module: ...


def feature_extractor_name(config: Config) -> str:
    """translation.features, with `auto` resolved: the digits classifier for the demo tasks."""
    name = config.translation.features
    if name == "auto":
        source = config.data.source.strip()
        if all(p.startswith("demo:") and p[5:] in demos.ATTRIBUTE_DEMOS for p in split_spec(source)):
            return "digit_attributes"  # the digit attribute demos, one or several joined
        return DEMO_FEATURES.get(source, "digits" if source.startswith("demo:") else "inception")
    return name


class Evaluator:
    """Holds the test data, the feature extractor and the real images' features between calls."""

    def __init__(self, config: Config, data: TranslationData, device: torch.device) -> None:
        self.config, self.data, self.device = config, data, device
        self.mode = config.translation.inference
        self.seed = config.train.seed
        limit = config.translation.eval_n or None
        self.test: dict[str, torch.Tensor] = {}
        if data.has_test:
            self.test = {"A": data.test_a[:limit], "B": data.test_b[:limit]}
        self.test_masks: dict[str, torch.Tensor] = {}  # InstaGAN: the test images' instance masks
        if data.instances and self.test:
            c = data.test_a.shape[1] - data.instances
            self.test_masks = {k: v[:, c:] for k, v in self.test.items()}
            self.test = {k: v[:, :c] for k, v in self.test.items()}
        self.labels = None  # the demo tasks' digit of each test image (both domains alike)
        if data.test_labels is not None and self.test:
            self.labels = data.test_labels[: len(self.test["A"])]
        self.condition = method_class(config.translation.mode).condition
        self.test_attrs = data.test_attrs[:limit] if data.test_attrs is not None else None
        self.missing: dict[str, str] = {}  # metric -> why it could not be computed
        self.notes: dict[str, str] = {}  # caveats of metrics that were computed
        self.extractor_name = feature_extractor_name(config)
        self.extractor: nn.Module | None = None
        self.real_features: dict[str, Features] = {}
        self.maps = data.test_maps[: len(self.test["A"])] if data.test_maps is not None and self.test else None
        self.real_miou: float | None = None

    def _features(self, images: torch.Tensor) -> Features | None:
        if self.extractor_name == "none":
            self.missing["fid"] = self.missing["kid"] = "translation.features=none"
            return None
        if self.extractor is None:
            try:
                self.extractor = get_extractor(self.extractor_name, device=self.device)
            except GanforgeError as exc:
                self.missing["fid"] = self.missing["kid"] = str(exc)
                self.extractor_name = "none"
                return None
        return extract(self.extractor, images.split(FEATURE_BATCH))

    def _fid_kid(self, outputs: torch.Tensor, target: str, direction: str,
                 record: dict[str, Any]) -> Features | None:
        """fid_/kid_ of the outputs against the target domain's real test images; their features."""
        if not torch.isfinite(outputs).all():  # diverged networks: reported, not a crash
            self.missing[f"fid_{direction}"] = self.missing[f"kid_{direction}"] = (
                "the translated images are not finite (the generator diverged)")
            return None
        fake = self._features(outputs)
        if fake is None:
            return None
        if target not in self.real_features:
            self.real_features[target] = self._features(self.test[target])
        real = self.real_features[target]
        fid = fid_from_features(fake.features, real.features)
        kid = kernel_inception_distance(
            fake.features, real.features, subsets=KID_SUBSETS, seed=self.seed
        )
        record[f"fid_{direction}"] = fid["fid"]
        record[f"kid_{direction}"] = kid["mean"]
        record[f"kid_{direction}_std"] = kid["std"]
        for warning in fid["warnings"] + kid["warnings"]:
            self.notes.setdefault(f"fid_kid_{direction}", warning)
        return fake

    def _distribution_scores(
        self, outputs: torch.Tensor, target: str, direction: str, record: dict[str, Any]
    ) -> None:
        fake = self._fid_kid(outputs, target, direction, record)
        if fake is None:
            return
        if self.labels is not None and target in self.data.readable and fake.logits is not None:
            record[f"digit_accuracy_{direction}"] = class_accuracy(fake.logits, self.labels.numpy())

    @torch.no_grad()
    def __call__(self, model: TranslationModel) -> dict[str, Any]:
        """Metrics of `model` on the test split ({} and a `missing` note when there is none)."""
        record: dict[str, Any] = {}
        if not self.test:
            self.missing["all"] = (
                "the data has no test split (paired: DIR/test or DIR/val; "
                "unpaired: DIR/testA and DIR/testB)"
            )
            return record
        if self.condition == "attributes":
            return self._attribute_metrics(model.generator("AtoB"), record)
        if self.condition == "latent":
            return self._latent_metrics(model, record)
        if self.test_masks:
            per_pass = getattr(self.config.translation, "ins_per", 0)
            c = self.test["A"].shape[1]

            def translate(direction: str, packed: torch.Tensor) -> torch.Tensor:
                if not per_pass:  # an image-only mode (CycleGAN): the image alone, no masks out
                    return run_generator(model.generator(direction), packed[:, :c], self.mode, self.seed)
                g = sequential(model.generator(direction), per_pass)
                return run_generator(g, packed, self.mode, self.seed)

            return instance_metrics(self, translate, record)
        outputs = {}
        for direction in model.directions:
            source, target = ("A", "B") if direction == "AtoB" else ("B", "A")
            out = run_generator(model.generator(direction), self.test[source], self.mode, self.seed)
            outputs[direction] = out
            if self.data.test_paired:
                for key, value in paired_scores(out, self.test[target]).items():
                    record[f"{key}_{direction}"] = value
                if f"ssim_{direction}" not in record:
                    self.missing["ssim"] = "SSIM's 11x11 window needs images of at least 11 px"
            self._distribution_scores(out, target, direction, record)
            if direction == "AtoB" and self.maps is not None:
                self._segmentation_scores(out, record)
        if set(model.directions) == {"AtoB", "BtoA"}:
            for domain, there, back in (("A", "AtoB", "BtoA"), ("B", "BtoA", "AtoB")):
                rec = run_generator(model.generator(back), outputs[there], self.mode, self.seed)
                record[f"cycle_l1_{domain}"] = float(l1_error(rec, self.test[domain]).mean())
        record["eval_n"] = int(len(self.test["A"]))
        return record

    def _segmentation_scores(self, outputs: torch.Tensor, record: dict[str, Any]) -> None:
        """Label-map data (SPADE's): mIoU and pixel accuracy of the shipped segmenter's reading
        of the generated images against the input maps, and (`miou_real`) of the real images."""
        name = DEMO_SEGMENTERS.get(self.config.data.source.strip())
        if name is None:
            self.missing["miou"] = ("no segmenter for these label maps (ganforge ships one for "
                                    "demo:digit-canvases)")
            return
        try:
            judge = load_segmenter(name, self.device)
        except GanforgeError as exc:
            self.missing["miou"] = str(exc)
            return
        classes = self.data.label_classes
        scores = mean_iou(judge.predict(outputs), self.maps[:, 0], classes)
        record["miou_AtoB"], record["pixel_accuracy_AtoB"] = scores["miou"], scores["pixel_accuracy"]
        if self.real_miou is None:
            self.real_miou = mean_iou(judge.predict(self.test["B"]), self.maps[:, 0], classes)["miou"]
        record["miou_real"] = self.real_miou

    def _attribute_metrics(self, g: nn.Module, record: dict[str, Any]) -> dict[str, Any]:
        """StarGAN: each test image with each attribute flipped; FID/KID against the real test
        images, attribute accuracy by a multi-label classifier of the run's attributes, and the
        reconstruction error of translating back to the image's own label."""
        images, labels, sets = self.test["A"], self.test_attrs, self.data.attribute_sets
        known_attrs = None
        sources = torch.arange(len(images)).repeat(len(self.config.translation.attributes))
        if mask_width(sets):  # several datasets: flips and scores of each image's own attributes
            outputs, targets, flipped, known_attrs, sources = masked_attribute_translations(
                g, images, labels, sets, self.mode, self.seed)
        else:
            outputs, targets, flipped = attribute_translations(g, images, labels, self.mode, self.seed)
        fake = self._fid_kid(outputs, "A", "AtoB", record)
        names = list(self.config.translation.attributes)
        judge = self.extractor
        known = list(getattr(judge, "class_names", [])) if getattr(judge, "multi_label", False) else []
        if fake is not None and fake.logits is not None and set(names) <= set(known):
            columns = [known.index(name) for name in names]
            scores = attribute_scores(fake.logits[:, columns], targets, flipped, known_attrs)
            record.update({f"{k}_AtoB": v for k, v in scores.items()})
        else:
            self.missing["attribute_accuracy"] = (
                f"no attribute classifier of {', '.join(names)} (ganforge ships one for "
                "demo:digit-attributes: translation.features=digit_attributes)")
        rec = run_generator(g, outputs, self.mode, self.seed, labels.float()[sources])
        record["reconstruction_l1_AtoB"] = float(l1_error(rec, images[sources]).mean())
        record["eval_n"] = int(len(images))
        return record

    def _latent_metrics(self, model: TranslationModel, record: dict[str, Any]) -> dict[str, Any]:
        """BicycleGAN: L1/PSNR/SSIM and FID/KID of one random code per test input, and the
        diversity of DIVERSITY_CODES codes for each of the first DIVERSITY_INPUTS inputs."""
        direction = model.directions[0]
        source, target = ("A", "B") if direction == "AtoB" else ("B", "A")
        g, nz = model.generator(direction), self.config.translation.nz
        images = self.test[source]
        one_each = latent_translations(g, images, latent_codes(1, nz, self.seed), self.mode, self.seed)[:, 0]
        if self.data.test_paired:
            for key, value in paired_scores(one_each, self.test[target]).items():
                record[f"{key}_{direction}"] = value
        self._distribution_scores(one_each, target, direction, record)
        subset = images[:DIVERSITY_INPUTS]
        codes = latent_codes(DIVERSITY_CODES, nz, self.seed + 1)
        many = latent_translations(g, subset, codes, self.mode, self.seed)
        record[f"diversity_l1_{direction}"] = mean_pairwise_distance(many, "l1")
        features = self._features(many.flatten(0, 1))
        if features is not None:
            unit = torch.from_numpy(features.features)
            unit = unit / unit.norm(dim=1, keepdim=True).clamp_min(1e-12)
            record[f"diversity_features_{direction}"] = mean_pairwise_distance(
                unit.view(len(subset), DIVERSITY_CODES, -1), "l2")
        record["eval_n"] = int(len(images))
        return record

    def protocol(self) -> dict[str, Any]:
        """How the numbers were computed, for evaluation.json."""
        extractor = self.extractor
        return {
            "test_images": {k: int(len(v)) for k, v in self.test.items()},
            "ground_truth": bool(self.data.test_paired),
            "inference": self.mode,
            "features": self.extractor_name,
            "features_sha256": getattr(extractor, "weights_sha256", None),
            "kid_subsets": KID_SUBSETS,
            "conventions": "L1 in [-1, 1] units; PSNR (peak 1) and SSIM (11x11 Gaussian, "
            "sigma 1.5, L = 1) on [0, 1]; means over images",
            "missing": dict(self.missing),
            "notes": dict(self.notes),
        }
