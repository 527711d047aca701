"""Latent directions of a generator, three ways:

- `pca` (GANSpace, Härkönen et al. 2020): principal components of W for StyleGAN2; for BigGAN
  (z generators with a first linear layer) of the first layer's activations, carried back to z
  by linear regression of z on the components' coordinates, as GANSpace does for BigGAN.
- `sefa` (Shen & Zhou 2021, closed form): the top eigenvectors of A^T A, A the weights that
  first act on the latent: StyleGAN2's style affine layers (all of them, or a range; rows
  normalised as SeFa's code does), BigGAN's first linear layer (its z columns).
- `svm` (InterFaceGAN, Shen et al. 2020): the unit normal of a linear SVM separating latents of
  two labels; labels from a file, or each class (or attribute) against the rest as scored by a
  shipped classifier on the generated images.
- `mean`: class-targeted directions from the same labels: the mean latent of class b minus that
  of class a (`pairs`: one direction "a->b" per ordered pair), or of class b minus the rest.

PCA, SeFa and SVM directions are stored scaled to one standard deviation of the sampled latents
along them, so an edit `latent + s * direction` with s in -3..3 spans the latents' usual range.
Mean directions are stored as the difference itself: strength 1 carries class a's mean latent
onto class b's (a conditional W keeps its classes apart by far more than one std).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganforge.editing.codes import LatentCode, class_vectors, decode, to_styles
from ganforge.errors import GanforgeError, check_count
from ganforge.generator import Generator
from ganforge.metrics.classifiers import load_classifier

METHODS = ("pca", "sefa", "svm", "mean")
MAX_SAMPLES = 1_000_000
BATCH = 256


@dataclass
class Directions:
    vectors: torch.Tensor  # (K, D), each scaled to one std of the latents along it
    names: list[str]
    space: str  # "w" (StyleGAN2) or "z"
    method: str
    info: dict


def latent_space(g: Generator) -> str:
    return "w" if g.style_based else "z"


@torch.no_grad()
def sample_latents(g: Generator, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n latents in the generator's edit space (w for StyleGAN2, z otherwise) and their
    z-codes' classes (uniform): (latents (n, D), class ids (n,))."""
    check_count("--n", n, MAX_SAMPLES, least=2)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, g.dim_z, generator=rng)
    ids = torch.randint(0, max(g.n_classes, 1), (n,), generator=rng)
    if not g.style_based:
        return z, ids
    out = []
    for zb, yb in zip(z.split(BATCH * 16), ids.split(BATCH * 16), strict=True):
        c = class_vectors(g, yb)
        out.append(to_styles(g, LatentCode("z", zb.to(g.device), None if c is None else c.to(g.device)))[:, 0].cpu())
    return torch.cat(out), ids


def scale_to_std(vectors: torch.Tensor, latents: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Unit directions times the std of `latents` projected on each."""
    unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
    stds = (latents @ unit.T).std(0)
    return unit * stds[:, None], [float(s) for s in stds]


def pca(g: Generator, k: int = 10, n: int = 10_000, seed: int = 0) -> Directions:
    latents, _ = sample_latents(g, n, seed)
    check_count("--k", k, latents.shape[1])
    if g.style_based:
        centred = (latents - latents.mean(0)).double()
        _, s, vt = torch.linalg.svd(centred, full_matrices=False)
        vectors = vt[:k].float()
        explained = (s.square() / s.square().sum())[:k]
        basis = "W"
    else:
        net = g.generator
        first = getattr(net, "linear", None)
        if first is None:
            raise GanforgeError(f"GANSpace PCA of activations needs a first linear layer (BigGAN); "
                                f"this {g.architecture} generator has none")
        z0 = _first_input(g, latents)
        with torch.no_grad():
            acts = torch.cat([first(b.to(g.device)).cpu() for b in z0.split(BATCH * 16)]).double()
        centred = acts - acts.mean(0)
        _, s, vt = torch.linalg.svd(centred, full_matrices=False)
        coords = centred @ vt[:k].T  # (n, k) coordinates on the activation components
        solution = torch.linalg.lstsq(coords, latents.double() - latents.double().mean(0)).solution
        vectors = solution.float()  # (k, dim_z): z moving along each component
        explained = (s.square() / s.square().sum())[:k]
        basis = "first-layer activations, regressed to z"
    vectors, stds = scale_to_std(vectors, latents)
    names = [f"pc{i}" for i in range(k)]
    info = {"method": "pca", "samples": n, "seed": seed, "basis": basis, "std": stds,
            "explained_variance_ratio": [float(e) for e in explained]}
    return Directions(vectors, names, latent_space(g), "pca", info)


def _first_input(g: Generator, z: torch.Tensor) -> torch.Tensor:
    """The part of z BigGAN's first linear layer reads (chunk 0 with a hierarchical z)."""
    chunk = int(getattr(g.generator, "chunk", 0) or 0)
    return z[:, :chunk] if chunk else z


def parse_layers(layers: str | None, count: int, unit: str = "style layer") -> slice:
    """'all' / None, or START:END (Python slice of `count` units: styles, or BigGAN's G blocks)."""
    if layers in (None, "", "all"):
        return slice(0, count)
    try:
        a, b = (int(x) if x else None for x in layers.split(":"))
    except ValueError:
        raise GanforgeError(f"--layers must be 'all' or START:END ({unit} indices), got '{layers}'") from None
    picked = slice(a, b)
    if not range(count)[picked]:
        raise GanforgeError(f"--layers {layers} selects no {unit} (this generator has {count})")
    return picked


def sefa_matrix(g: Generator, layers: str | None = None) -> tuple[torch.Tensor, str]:
    """A: the (rows normalised) weights that first act on the latent, and what they are."""
    net = g.generator
    if g.style_based:
        affines = [m for name, m in net.synthesis.named_modules() if name.endswith("affine")]
        picked = affines[parse_layers(layers, len(affines))]
        a = torch.cat([m.effective_weight().detach().cpu().double() for m in picked])
        return a / a.norm(dim=1, keepdim=True).clamp_min(1e-12), f"{len(picked)} style affine layers"
    first = getattr(net, "linear", None)
    if first is None:
        raise GanforgeError(f"SeFa needs BigGAN's first linear layer or StyleGAN2's style layers; "
                            f"this {g.architecture} generator has neither")
    weight = first.weight.detach().cpu().double()
    width = int(getattr(net, "chunk", 0) or 0) or min(weight.shape[1], g.dim_z)
    return weight[:, :width], "first linear layer (z columns)"


def sefa(g: Generator, k: int = 10, layers: str | None = None, n: int = 10_000, seed: int = 0) -> Directions:
    a, what = sefa_matrix(g, layers)
    check_count("--k", k, a.shape[1])
    values, vectors = torch.linalg.eigh(a.T @ a)
    order = torch.argsort(values, descending=True)[:k]
    top = vectors[:, order].T.float()  # (k, width)
    if top.shape[1] < g.dim_z and not g.style_based:  # hierarchical z: the other chunks stay put
        top = torch.cat([top, torch.zeros(k, g.dim_z - top.shape[1])], dim=1)
    latents, _ = sample_latents(g, n, seed)
    scaled, stds = scale_to_std(top, latents)
    info = {"method": "sefa", "matrix": what, "eigenvalues": [float(values[i]) for i in order],
            "std": stds, "samples_for_scale": n, "seed": seed}
    return Directions(scaled, [f"sefa{i}" for i in range(k)], latent_space(g), "sefa", info)


def classifier_labels(g: Generator, latents: torch.Tensor, ids: torch.Tensor, classifier: str,
                      ) -> tuple[np.ndarray, list[str], bool]:
    """Labels of generated images by a shipped classifier: (labels (n,) class ids or (n, A)
    attribute bits, names, multi_label)."""
    judge = load_classifier(classifier, device=g.device)
    out = []
    with torch.no_grad():
        for lb, yb in zip(latents.split(BATCH), ids.split(BATCH), strict=True):
            c = class_vectors(g, yb)
            code = LatentCode(latent_space(g), lb.to(g.device), None if c is None else c.to(g.device))
            out.append(judge(decode(g, code).clamp(-1, 1))[1].cpu())
    logits = torch.cat(out)
    if judge.multi_label:
        return (logits > 0).numpy().astype(int), judge.class_names, True
    return logits.argmax(1).numpy(), judge.class_names, False


def svm(g: Generator, labels: np.ndarray | None = None, latents: torch.Tensor | None = None,
        classifier: str | None = None, n: int = 2000, seed: int = 0, names: list[str] | None = None,
        c: float = 1.0) -> Directions:
    """One boundary per label value against the rest (one when there are two values; one per
    attribute for a multi-label classifier). Latents/labels given, or sampled and scored."""
    from sklearn.model_selection import train_test_split
    from sklearn.svm import LinearSVC

    multi = False
    if labels is None:
        if classifier is None:
            raise GanforgeError("--method svm needs --labels FILE (with --latents FILE) or a "
                                "--classifier to score samples (digits, mnist, digit_attributes)")
        latents, ids = sample_latents(g, n, seed)
        labels, names, multi = classifier_labels(g, latents, ids, classifier)
    elif latents is None or len(latents) != len(labels):
        raise GanforgeError(f"--labels gives {len(labels)} labels but the latents hold "
                            f"{0 if latents is None else len(latents)}; give one label per latent")
    x = latents.double().numpy()
    tasks: list[tuple[str, np.ndarray]] = []
    if multi:
        tasks = [(names[j], labels[:, j]) for j in range(labels.shape[1])]
    else:
        values = sorted(set(labels.tolist()))
        if len(values) < 2:
            raise GanforgeError(f"every latent has the label {values[0]!r}; the SVM needs two labels")
        chosen = values[1:] if len(values) == 2 else values
        tasks = [(names[int(v)] if names is not None else str(v), (labels == v).astype(int)) for v in chosen]
    vectors, report = [], {}
    for name, y in tasks:
        if y.min() == y.max() or min(y.sum(), len(y) - y.sum()) < 2:
            report[name] = {"skipped": f"only {int(y.sum())} positive of {len(y)}"}
            continue
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
        model = LinearSVC(C=c, max_iter=20_000).fit(x_tr, y_tr)
        normal = torch.from_numpy(model.coef_[0]).float()
        vectors.append(normal)
        report[name] = {"positives": int(y.sum()), "train_accuracy": float(model.score(x_tr, y_tr)),
                        "held_out_accuracy": float(model.score(x_te, y_te))}
    if not vectors:
        raise GanforgeError("no label has enough positive and negative latents for an SVM; sample more (--n)")
    scaled, stds = scale_to_std(torch.stack(vectors), latents.float())
    kept = [name for name, _ in tasks if "skipped" not in report[name]]
    info = {"method": "svm", "labels": f"classifier:{classifier}" if classifier else "file",
            "samples": int(len(latents)), "seed": seed, "boundaries": report, "std": stds, "C": c}
    return Directions(scaled, kept, latent_space(g), "svm", info)


def _labelled(g: Generator, labels: np.ndarray | None, latents: torch.Tensor | None, classifier: str | None,
              n: int, seed: int, method: str) -> tuple[torch.Tensor, np.ndarray, list[str] | None, bool]:
    """(latents, labels, label names, multi-label) from a file's labels or a classifier's."""
    if labels is None:
        if classifier is None:
            raise GanforgeError(f"--method {method} needs --labels FILE (with --latents FILE) or a "
                                "--classifier to score samples (digits, mnist, digit_attributes)")
        latents, ids = sample_latents(g, n, seed)
        labels, names, multi = classifier_labels(g, latents, ids, classifier)
        return latents, labels, names, multi
    if latents is None or len(latents) != len(labels):
        raise GanforgeError(f"--labels gives {len(labels)} labels but the latents hold "
                            f"{0 if latents is None else len(latents)}; give one label per latent")
    return latents, labels, None, False


def mean_difference(g: Generator, labels: np.ndarray | None = None, latents: torch.Tensor | None = None,
                    classifier: str | None = None, n: int = 2000, seed: int = 0, pairs: bool = False,
                    ) -> Directions:
    """Class-targeted directions: mean(latents of b) - mean(latents of a) for every ordered pair
    ("a->b", `pairs`), else mean(b) - mean(the rest) per label value (per attribute: with minus
    without). Labels as for `svm`; values with fewer than 2 latents are skipped."""
    latents, labels, names, multi = _labelled(g, labels, latents, classifier, n, seed, "mean")
    x = latents.double()
    groups: dict[str, torch.Tensor] = {}
    if multi:
        if pairs:
            raise GanforgeError("--pairs needs one label per latent (classes); a multi-label classifier "
                                "gives one direction per attribute (drop --pairs)")
        for j, name in enumerate(names or []):
            on = torch.from_numpy(labels[:, j] == 1)
            if 2 <= int(on.sum()) <= len(on) - 2:
                groups[name] = x[on].mean(0) - x[~on].mean(0)
        counts = {name: int(labels[:, j].sum()) for j, name in enumerate(names or [])}
    else:
        values = sorted(set(labels.tolist()))
        label = {v: names[int(v)] if names is not None else str(v) for v in values}
        counts = {label[v]: int((labels == v).sum()) for v in values}
        kept = [v for v in values if counts[label[v]] >= 2]
        if len(kept) < 2:
            raise GanforgeError(f"--method mean needs two labels with 2+ latents each; got counts {counts}")
        means = {v: x[torch.from_numpy(labels == v)].mean(0) for v in kept}
        for b in kept:
            if pairs:
                for a in kept:
                    if a != b:
                        groups[f"{label[a]}->{label[b]}"] = means[b] - means[a]
            else:
                rest = torch.from_numpy(labels != b)
                groups[label[b]] = means[b] - x[rest].mean(0)
    if not groups:
        raise GanforgeError("no label has enough latents for a mean direction; sample more (--n)")
    vectors = torch.stack(list(groups.values())).float()
    info = {"method": "mean", "pairs": pairs, "labels": f"classifier:{classifier}" if classifier else "file",
            "samples": int(len(latents)), "seed": seed, "counts": counts,
            "scale": "the mean difference itself: strength 1 moves one class mean onto the other",
            "norms": [float(v) for v in vectors.norm(dim=1)]}
    return Directions(vectors, list(groups), latent_space(g), "mean", info)
