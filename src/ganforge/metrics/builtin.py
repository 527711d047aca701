"""The shipped metrics, one registered function each: fid, is, kid, pr, dc, acc."""

from __future__ import annotations

from typing import Any

import torch

from ganforge.metrics.classifiers import class_accuracy, class_coverage
from ganforge.metrics.features import DOMAIN_EXTRACTORS
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.inception_score import SHUFFLE_SEED, inception_score
from ganforge.metrics.kid import kernel_inception_distance
from ganforge.metrics.prdc import precision_recall_density_coverage
from ganforge.metrics.registry import MetricInputs, Unavailable, register

IS_SPLITS = 10


@register("fid", keys=["fid"], lower_is_better=["fid"])
def fid(x: MetricInputs) -> dict[str, Any]:
    result = fid_from_features(x.reference.features, x.generated.features)
    x.warnings += result["warnings"]
    return {"fid": result["fid"]}


@register("is", keys=["is_mean", "is_std"], protocol={
    "is_split_order": f"content order, then numpy RandomState({SHUFFLE_SEED}).permutation "
                      "(torch-fidelity's isc shuffle); chunks [i N // s, (i+1) N // s), none dropped"})
def inception(x: MetricInputs) -> dict[str, Any]:
    if x.generated.logits is None:
        raise Unavailable("the feature extractor has no class logits")
    splits = min(IS_SPLITS, len(x.generated.logits))
    x.protocol["is_splits"] = splits
    mean, std = inception_score(x.generated.logits, splits=splits, from_logits=True)
    return {"is": {"mean": mean, "std": std, "splits": splits}}


@register("kid", keys=["kid_mean", "kid_std"], lower_is_better=["kid_mean"],
          protocol={"kid_kernel": "polynomial degree 3, gamma 1/d, coef 1; unbiased MMD^2"})
def kid(x: MetricInputs) -> dict[str, Any]:
    result = kernel_inception_distance(x.reference.features, x.generated.features, seed=x.seed)
    x.warnings += result["warnings"]
    x.protocol["kid_subsets"] = (
        f"{result['subsets']} subsets of {result['subset_size']} rows from each set, without "
        f"replacement within a subset, numpy default_rng({x.seed}) over the content-ordered features")
    return {"kid": {k: result[k] for k in ("mean", "std", "subsets", "subset_size")}}


def _prdc(x: MetricInputs) -> dict[str, Any]:
    """Computed once for pr and dc together (one k-NN pass); its warnings are added once."""
    def run() -> dict[str, Any]:
        result = precision_recall_density_coverage(x.reference.features, x.generated.features)
        x.warnings += result["warnings"]
        return result

    return x.shared("prdc", run)


@register("pr", keys=["precision", "recall"], protocol={"pr_k": 3})
def precision_recall(x: MetricInputs) -> dict[str, Any]:
    result = _prdc(x)
    return {"precision": result["precision"], "recall": result["recall"]}


@register("dc", keys=["density", "coverage"], protocol={"dc_k": 5})
def density_coverage(x: MetricInputs) -> dict[str, Any]:
    result = _prdc(x)
    return {"density": result["density"], "coverage": result["coverage"]}


@register("acc", keys=["class_accuracy", "class_coverage_classes_produced",
                       "class_coverage_kl_to_uniform"], needs_classifier=True)
def accuracy(x: MetricInputs) -> dict[str, Any]:
    reason = accuracy_unavailable(x)
    if reason:
        raise Unavailable(reason)
    logits = torch.from_numpy(x.class_logits)
    count = x.class_count or len(x.classifier.class_names)
    return {"class_accuracy": class_accuracy(logits, x.labels),
            "class_coverage": class_coverage(logits, count)}


def accuracy_unavailable(x: MetricInputs) -> str | None:
    labels, classifier, class_count = x.labels, x.classifier, x.class_count
    if labels is None:
        return "the images carry no intended class (not a conditional generator or labelled folder)"
    if classifier is None:
        return "no domain classifier for this data (available: " + ", ".join(DOMAIN_EXTRACTORS) + ")"
    if class_count == 0:  # labels without names (.npz): they must be the classifier's ids
        if int(labels.max()) >= len(classifier.class_names) or int(labels.min()) < 0:
            return f"labels exceed the '{classifier.name}' classifier's {len(classifier.class_names)} classes"
        return None
    if len(classifier.class_names) != class_count:
        return (
            f"the '{classifier.name}' classifier knows {len(classifier.class_names)} classes, "
            f"the source has {class_count}"
        )
    return None
