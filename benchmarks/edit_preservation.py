"""Does a class edit keep everything but the class? (issue 22: "editability: how often a class edit
changes the classifier's prediction to the target while the reconstruction of everything else
stays close").

For every edit kind of `class_edits.py` (StyleGAN2 W: SVM one-vs-rest normal, class-mean
difference one-vs-rest and pairwise; BigGAN: class swap / extrapolated class vector; and, on
StyleGAN2 samples, the class swap of z: the mapping's class input changed), on fresh
samples and on MNIST test digits projected into the generator, each start image S is moved to every
class t the digits classifier does not read in it, giving E. Reported per (set, edit, strength):
  - to_target: how often the digits classifier reads t in E (as class_edits.py);
  - per stroke attribute (`ganforge.metrics.strokes`: thickness, slant, centroid, box, intensity,
    ink mass) the mean |attr(E) - attr(S)|, against two baselines measured the same way:
      unrelated: |attr(U) - attr(S)|, U another image of class t (samples: a fresh sample of
        class t that the classifier reads as t; projected: the reconstruction of another MNIST
        test digit labelled t) -- what "everything changed" looks like;
      floor: samples of StyleGAN2: S re-rendered with fresh noise maps; projected: S against the
        real digit it reconstructs (the projection's own error); BigGAN samples: none (a z code
        renders deterministically, so strength 0 gives 0);
    and the preservation ratio edit / unrelated (< 1: more of S is kept than by swapping S for
    another digit of class t), with its mean over the style attributes;
  - the same for the LPIPS-shaped distance on the shipped digits classifier's conv features (the
    projection's default perceptual distance).

    cd benchmarks && PYTHONPATH=../src OMP_NUM_THREADS=1 python edit_preservation.py \
        --stylegan RUN_SG2 --biggan RUN_BG --samples 100 --project 30 \
        --out results/edit_preservation.json --figure ../docs/images/edit_preservation.png
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from _report import provenance, write_result
from class_edits import held_out_digits, in_w, predict, samples, subset
from ganforge import load
from ganforge.editing import directions as find
from ganforge.editing.codes import LatentCode, class_vectors
from ganforge.editing.edit import edit, render
from ganforge.editing.noise import noise_layers
from ganforge.editing.perceptual import choose_perceptual
from ganforge.editing.project import ProjectSettings, project
from ganforge.metrics.classifiers import load_classifier
from ganforge.metrics.strokes import (
    ATTRIBUTES,
    STYLE,
    attribute_changes,
    correlations,
    preservation_ratios,
    stroke_attributes,
)
from ganforge.sampling import make_grid, save_image


class Set:
    """Start images of one input set, with what their baselines need."""

    def __init__(self, name, code, images, floor, unrelated_pool, own_label=None):
        self.name, self.code, self.images = name, code, images
        self.floor = floor  # (N, C, H, W) images to compare S with, or None
        self.pool = unrelated_pool  # {class: (M, C, H, W)}
        self.own_label = own_label  # (N,) true labels of projected digits (their own pool entries are skipped)


def unrelated_for(s: Set, idx: torch.Tensor, t: int) -> torch.Tensor:
    """One image of class t per start image idx[i], never the start image's own digit."""
    pool, owners = s.pool[t]
    picks = []
    for k, i in enumerate(idx.tolist()):
        allowed = [j for j in range(len(pool)) if owners is None or owners[j] != i] or list(range(len(pool)))
        picks.append(allowed[(i + k) % len(allowed)])
    return pool[picks]


def mean(values: torch.Tensor) -> float:
    values = values[~torch.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


def summarise(starts, edits, unrelated, targets, judge, perceptual, floor_changes, floor_distance, class_means, own):
    hit = predict(judge, edits) == targets
    attrs = {name: stroke_attributes(x) for name, x in (("start", starts), ("edit", edits), ("unrelated", unrelated))}
    # the part of a change the class alone explains: |mean over class t - mean over class a|
    shift = {k: mean((class_means[k][targets] - class_means[k][own]).abs()) for k in ATTRIBUTES}
    edit_change = attribute_changes(edits, starts)
    unrelated_change = attribute_changes(unrelated, starts)
    with torch.no_grad():
        feats = perceptual.features(starts)
        d_edit = perceptual.distance(edits, feats)
        d_unrelated = perceptual.distance(unrelated, feats)
    e = {k: mean(v) for k, v in edit_change.items()}
    u = {k: mean(v) for k, v in unrelated_change.items()}
    return {
        "pairs": len(targets), "to_target": float(hit.float().mean()),
        "edit_change": e, "unrelated_change": u, "floor_change": floor_changes,
        "class_mean_shift": shift,
        "ratio": preservation_ratios(e, u),
        **{f"correlation_{name}_start": with_style_mean(correlations(attrs[name], attrs["start"]))
           for name in ("edit", "unrelated")},
        "ratio_on_hits": preservation_ratios({k: mean(v[hit]) for k, v in edit_change.items()},
                                             {k: mean(v[hit]) for k, v in unrelated_change.items()}),
        "mean_abs_pixel_change": float((edits - starts).abs().mean()),
        "perceptual": {"edit": float(d_edit.mean()), "unrelated": float(d_unrelated.mean()),
                       "floor": floor_distance, "ratio": float(d_edit.mean() / d_unrelated.mean())},
    }


def with_style_mean(values: dict[str, float]) -> dict[str, float]:
    return values | {"style": sum(values[k] for k in STYLE) / len(STYLE)}


def class_means(s: Set) -> dict[str, torch.Tensor]:
    """Each attribute's mean over the unrelated pool of each class: {name: (10,)}."""
    per_class = [stroke_attributes(s.pool[t][0]) for t in range(10)]
    return {k: torch.tensor([mean(p[k]) for p in per_class], dtype=torch.float64) for k in ATTRIBUTES}


def floors(s: Set, perceptual):
    if s.floor is None:
        return None, None
    changes = {k: mean(v) for k, v in attribute_changes(s.floor, s.images).items()}
    with torch.no_grad():
        return changes, float(perceptual.distance(s.floor, perceptual.features(s.images)).mean())


def stylegan_rows(g, sets, judge, perceptual, strengths, n_latents, keep):
    kinds = {
        "svm one-vs-rest (std units)": (find.svm(g, classifier="digits", n=n_latents, seed=0), strengths["svm"]),
        "mean one-vs-rest": (find.mean_difference(g, classifier="digits", n=n_latents, seed=0), strengths["mean"]),
        "mean pairwise (own class -> target)": (find.mean_difference(g, classifier="digits", n=n_latents, seed=0,
                                                                     pairs=True), strengths["mean"]),
    }
    rows = []
    for s in sets:
        current = predict(judge, s.images)
        floor_changes, floor_distance = floors(s, perceptual)
        for kind, (found, values) in kinds.items():
            for strength in values:
                starts, edits, unrelated, targets, owns = [], [], [], [], []
                for t in range(10):
                    for a in range(10):
                        idx = (current == a).nonzero().flatten()
                        name = f"{a}->{t}" if found.info.get("pairs") else str(t)
                        if a == t or not len(idx) or name not in found.names:
                            continue
                        images, _ = edit(g, subset(s.code, idx), found.vectors[found.names.index(name)], found.space,
                                         [strength])
                        starts.append(s.images[idx])
                        edits.append(images)
                        unrelated.append(unrelated_for(s, idx, t))
                        targets.append(torch.full((len(idx),), t))
                        owns.append(torch.full((len(idx),), a))
                row = {"generator": "stylegan2", "images": s.name, "direction": kind, "strength": strength,
                       **summarise(torch.cat(starts), torch.cat(edits), torch.cat(unrelated), torch.cat(targets),
                                   judge, perceptual, floor_changes, floor_distance, class_means(s), torch.cat(owns))}
                print(brief(row), flush=True)
                rows.append(row)
                if kind.startswith("mean pairwise") and strength == 1.0:
                    keep[f"stylegan2 {s.name}, pairwise mean 1"] = (torch.cat(starts), torch.cat(edits), torch.cat(unrelated))
    return rows


def class_vector_rows(g, generator, sets, judge, perceptual, scales, keep):
    """z kept, class vector moved from the code's own towards t (s = 1: the class swap)."""
    rows = []
    for s in sets:
        current = predict(judge, s.images)
        floor_changes, floor_distance = floors(s, perceptual)
        for scale in scales:
            starts, edits, unrelated, targets, owns = [], [], [], [], []
            for t in range(10):
                idx = (current != t).nonzero().flatten()
                owns.append(current[idx])
                own = s.code.classes[idx]
                target = torch.nn.functional.one_hot(torch.full((len(idx),), t), 10).float()
                edits.append(render(g, LatentCode("z", s.code.latent[idx], own + scale * (target - own))))
                starts.append(s.images[idx])
                unrelated.append(unrelated_for(s, idx, t))
                targets.append(torch.full((len(idx),), t))
            row = {"generator": generator, "images": s.name, "direction": "class vector own + s (onehot(t) - own)",
                   "strength": scale, **summarise(torch.cat(starts), torch.cat(edits), torch.cat(unrelated),
                                                  torch.cat(targets), judge, perceptual, floor_changes, floor_distance,
                                                  class_means(s), torch.cat(owns))}
            print(brief(row), flush=True)
            rows.append(row)
            if scale == 1.0:
                keep[f"{generator} {s.name}, class swap"] = (torch.cat(starts), torch.cat(edits), torch.cat(unrelated))
    return rows


def brief(row) -> dict:
    return {k: row[k] for k in ("generator", "images", "direction", "strength", "pairs", "to_target")} | {
        "style_ratio": round(row["ratio"]["style"], 3),
        "style_correlation": round(row["correlation_edit_start"]["style"], 3), "perceptual_ratio": round(row["perceptual"]["ratio"], 3)}


def sample_pool(g, judge, per_class: int, seed: int = 2):
    """Fresh samples of each class that the judge reads as that class: {t: (images, None)}."""
    rng = torch.Generator().manual_seed(seed)
    pool = {}
    for t in range(10):
        code = LatentCode("z", torch.randn(per_class, g.dim_z, generator=rng),
                          class_vectors(g, torch.full((per_class,), t)))
        images = render(g, code)
        ok = predict(judge, images) == t
        pool[t] = (images[ok] if ok.any() else images, None)
    return pool


def projected_set(g, name, real, labels, space, judge, perceptual, steps):
    start = time.perf_counter()
    class_id = predict(judge, real).tolist() if space == "z" else None  # BigGAN: the class the judge reads
    result = project(g, real, ProjectSettings(space=space, steps=steps), perceptual, class_id)
    print(f"{name}: projected {len(real)} in {time.perf_counter() - start:.0f} s", flush=True)
    recon = result.reconstruction
    pool = {t: (recon[labels == t], (labels == t).nonzero().flatten().tolist()) for t in range(10)}
    return Set(name, result.code, recon, real, pool, labels)


def with_random_noise(g, code: LatentCode, seed: int = 3) -> torch.Tensor:
    """The same W codes rendered with fresh noise maps: StyleGAN2's stochastic detail alone."""
    rng = torch.Generator().manual_seed(seed)
    maps = {name: torch.randn(len(code), 1, *m.noise_const.shape[-2:], generator=rng)
            for name, m in noise_layers(g.generator).items()}
    return render(g, LatentCode(code.space, code.latent, code.classes, maps))


def figure(keep: dict, path: Path, columns: int = 10) -> None:
    rows = []
    for start, edited, other in keep.values():
        pick = torch.linspace(0, len(start) - 1, columns).long()
        rows += [start[pick], edited[pick], other[pick]]
    save_image(make_grid(torch.cat(rows), columns), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stylegan", type=Path, required=True)
    parser.add_argument("--biggan", type=Path)
    parser.add_argument("--mnist", type=Path, default=Path(__file__).parents[1] / ".." / "shared" / "data" / "mnist")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--pool", type=int, default=12, help="fresh samples per class for the unrelated baseline")
    parser.add_argument("--latents", type=int, default=2000, help="labelled latents the directions come from")
    parser.add_argument("--project", type=int, default=30, help="MNIST test digits projected (class-balanced)")
    parser.add_argument("--steps", type=int, default=150, help="projection steps")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    judge = load_classifier("digits")
    perceptual = choose_perceptual(None, "digits")
    real = labels = None
    if args.project:
        real, labels = held_out_digits(args.mnist, args.project)
    keep: dict = {}
    sg = load(args.stylegan)
    code = in_w(sg, samples(sg, args.samples))
    sets = [Set("samples", code, render(sg, code), with_random_noise(sg, code), sample_pool(sg, judge, args.pool))]
    if args.project:
        sets.append(projected_set(sg, "mnist projected (W)", real, labels, "w", judge, perceptual, args.steps))
    rows = stylegan_rows(sg, sets, judge, perceptual, {"svm": [6.0], "mean": [1.0, 1.5]}, args.latents, keep)
    z_code = samples(sg, args.samples)  # the same samples as z codes: the mapping's class input swapped
    rows += class_vector_rows(sg, "stylegan2", [Set("samples", z_code, sets[0].images, sets[0].floor, sets[0].pool)],
                              judge, perceptual, [1.0], keep)
    if args.biggan:
        bg = load(args.biggan)
        code = samples(bg, args.samples)
        sets = [Set("samples", code, render(bg, code), None, sample_pool(bg, judge, args.pool))]
        if args.project:
            sets.append(projected_set(bg, "mnist projected (z, class fixed)", real, labels, "z", judge, perceptual,
                                      args.steps))
        rows += class_vector_rows(bg, "biggan", sets, judge, perceptual, [1.0, 1.5, 2.0], keep)
    if args.figure:
        figure(keep, args.figure)
    write_result({"benchmark": "edit_preservation", **provenance(), "stylegan": str(args.stylegan),
                  "biggan": str(args.biggan), "attributes": list(ATTRIBUTES), "perceptual": perceptual.name,
                  "figure_rows": [f"{k}: start / edit / unrelated target" for k in keep],
                  "rows": rows}, args.out)


if __name__ == "__main__":
    main()
