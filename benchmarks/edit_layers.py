"""Class edits restricted to some layers (issue 22 follow-up): does an edit that changes the class
only where the class is drawn (coarse styles / early G blocks) reach the target class and keep the
digit's style (the finer layers: stroke thickness, intensity)?

Swept, with the scoring of `edit_preservation.py` (target rate by the digits classifier; style
correlation start vs edit and style ratio edit / unrelated image of the target class):
  - StyleGAN2 W, the pairwise class-mean direction (own -> target) added only to the styles
    START:END (`ganforge edit --layers`), at several strengths, on samples and on MNIST digits
    projected in W;
  - StyleGAN2 z samples, the class swap in w+: the styles START:END of (z, target class), the rest
    of (z, own class) (`ganforge edit --to-class C --layers`), with s > 1 extrapolating those
    styles: own + s (target - own);
  - BigGAN, the class vector swapped only in G blocks START:END (`edit --to-class C --layers`,
    block 0 the coarsest), s > 1 extrapolating it there, on samples and on MNIST projected in z.
Also the frontier: per images set, the setting with the highest style correlation among those
that reach the target in >= 80 % of the pairs.

    cd benchmarks && PYTHONPATH=../src OMP_NUM_THREADS=1 python edit_layers.py \
        --stylegan RUN_SG2 --biggan RUN_BG --samples 100 --project 30 --steps 150 \
        --out results/edit_layers.json --figure ../docs/images/edit_layers.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from _report import provenance, write_result
from class_edits import held_out_digits, in_w, predict, samples, subset
from edit_preservation import (
    Set,
    class_means,
    floors,
    projected_set,
    sample_pool,
    summarise,
    unrelated_for,
    with_random_noise,
)
from ganforge import load
from ganforge.editing import directions as find
from ganforge.editing.codes import LatentCode, to_styles
from ganforge.editing.directions import parse_layers
from ganforge.editing.edit import class_transfer, edit, render
from ganforge.editing.perceptual import choose_perceptual
from ganforge.metrics.classifiers import load_classifier
from ganforge.sampling import make_grid, save_image

SG_RANGES = ["0:2", "0:3", "0:4", "0:5", "2:5", "3:8", "all"]
BG_RANGES = ["0:1", "0:2", "1:3", "2:3", "all"]


def brief(row) -> str:
    return (f"{row['generator']:9s} {row['images']:32s} {row['edit']:34s} layers {row['layers']:4s} s {row['strength']:<4} "
            f"target {row['to_target']:.3f} corr {row['correlation_edit_start']['style']:+.3f} "
            f"ratio {row['ratio']['style']:.3f} perc {row['perceptual']['ratio']:.3f}")


def row_of(generator, s, edit_name, layers, strength, starts, edits, unrelated, targets, owns, judge, perceptual):
    floor_changes, floor_distance = floors(s, perceptual)
    row = {"generator": generator, "images": s.name, "edit": edit_name, "layers": layers, "strength": strength,
           **summarise(torch.cat(starts), torch.cat(edits), torch.cat(unrelated), torch.cat(targets), judge,
                       perceptual, floor_changes, floor_distance, class_means(s), torch.cat(owns))}
    print(brief(row), flush=True)
    return row


def pairwise_rows(g, s, found, judge, perceptual, strengths, keep):
    """The pairwise class-mean direction (own -> target) on the styles of each range."""
    current = predict(judge, s.images)
    rows = []
    for layers in SG_RANGES:
        for strength in strengths:
            starts, edits, unrelated, targets, owns = [], [], [], [], []
            for t in range(10):
                for a in range(10):
                    idx = (current == a).nonzero().flatten()
                    name = f"{a}->{t}"
                    if a == t or not len(idx) or name not in found.names:
                        continue
                    images, _ = edit(g, subset(s.code, idx), found.vectors[found.names.index(name)], found.space,
                                     [strength], layers)
                    starts.append(s.images[idx])
                    edits.append(images)
                    unrelated.append(unrelated_for(s, idx, t))
                    targets.append(torch.full((len(idx),), t))
                    owns.append(torch.full((len(idx),), a))
            rows.append(row_of("stylegan2", s, "mean pairwise (own -> target)", layers, strength, starts, edits,
                               unrelated, targets, owns, judge, perceptual))
            keep[("stylegan2", s.name, "mean pairwise", layers, strength)] = (torch.cat(starts), torch.cat(edits))
    return rows


def style_swap(g, code: LatentCode, idx, t: int, layers: str, scale: float) -> torch.Tensor:
    """w+ of (z, own class) with the styles of `layers` moved to own + scale (target - own)."""
    z, own = code.latent[idx], code.classes[idx]
    target = torch.nn.functional.one_hot(torch.full((len(idx),), t), 10).float()
    with torch.no_grad():
        w_own = to_styles(g, LatentCode("z", z, own))
        w_target = to_styles(g, LatentCode("z", z, target))
    picked = parse_layers(layers, w_own.shape[1])
    w = w_own.clone()
    w[:, picked] = w_target[:, picked] if scale == 1 else w_own[:, picked] + scale * (w_target[:, picked] - w_own[:, picked])
    return render(g, LatentCode("w+", w))


def block_swap(g, code: LatentCode, idx, t: int, layers: str, scale: float) -> torch.Tensor:
    """BigGAN's class vector of the G blocks of `layers` moved to own + scale (target - own)."""
    own = code.classes[idx]
    blocks = len(g.generator.blocks)
    target = torch.nn.functional.one_hot(torch.full((len(idx),), t), 10).float()
    per_block = own[:, None, :].repeat(1, blocks, 1)
    picked = parse_layers(layers, blocks, "G block")
    per_block[:, picked] = (own + scale * (target - own))[:, None, :]
    return render(g, LatentCode("z", code.latent[idx], per_block))


def swap_rows(g, generator, s, judge, perceptual, ranges, scales, swap, keep, check):
    current = predict(judge, s.images)
    rows = []
    for layers in ranges:
        for scale in scales:
            starts, edits, unrelated, targets, owns = [], [], [], [], []
            for t in range(10):
                idx = (current != t).nonzero().flatten()
                images = swap(g, s.code, idx, t, layers, scale)
                if check and scale == 1.0 and t == 0:  # the benchmark's swap is the CLI's
                    first = subset(s.code, idx[:4])
                    mine = swap(g, first, torch.arange(len(first)), t, layers, scale)  # same batch: bitwise
                    assert torch.equal(class_transfer(g, first, [t], layers), mine), (generator, layers)
                starts.append(s.images[idx])
                edits.append(images)
                unrelated.append(unrelated_for(s, idx, t))
                targets.append(torch.full((len(idx),), t))
                owns.append(current[idx])
            rows.append(row_of(generator, s, "class swap in these layers", layers, scale, starts, edits, unrelated,
                               targets, owns, judge, perceptual))
            keep[(generator, s.name, "class swap", layers, scale)] = (torch.cat(starts), torch.cat(edits))
    return rows


def frontier(rows, rate: float = 0.8) -> list[dict]:
    """Per (generator, images): the setting with the highest style correlation among those that reach
    the target in >= rate of the pairs (None when no setting does)."""
    best = []
    for key in sorted({(r["generator"], r["images"]) for r in rows}):
        ok = [r for r in rows if (r["generator"], r["images"]) == key and r["to_target"] >= rate]
        pick = max(ok, key=lambda r: r["correlation_edit_start"]["style"], default=None)
        best.append({"generator": key[0], "images": key[1],
                     "best": None if pick is None else {k: pick[k] for k in ("edit", "layers", "strength", "to_target")}
                     | {"style_correlation": pick["correlation_edit_start"]["style"], "style_ratio": pick["ratio"]["style"]}})
    return best


def figure(keep, picks, path: Path, columns: int = 10) -> None:
    """Per picked setting: start row, edit row (the same ten pairs across settings of one set)."""
    rows = []
    for key in picks:
        start, edited = keep[key]
        pick = torch.linspace(0, len(start) - 1, columns).long()
        rows += [start[pick], edited[pick]]
    save_image(make_grid(torch.cat(rows), columns), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stylegan", type=Path, required=True)
    parser.add_argument("--biggan", type=Path)
    parser.add_argument("--mnist", type=Path, default=Path(__file__).parents[1] / ".." / "shared" / "data" / "mnist")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--pool", type=int, default=12)
    parser.add_argument("--latents", type=int, default=2000)
    parser.add_argument("--project", type=int, default=30)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--strengths", default="1,1.5,2,3", help="pairwise mean direction strengths")
    parser.add_argument("--scales", default="1,1.5", help="class swap: 1 = swap, > 1 extrapolated")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    torch.manual_seed(0)
    strengths = [float(x) for x in args.strengths.split(",")]
    scales = [float(x) for x in args.scales.split(",")]
    judge = load_classifier("digits")
    perceptual = choose_perceptual(None, "digits")
    real = labels = None
    if args.project:
        real, labels = held_out_digits(args.mnist, args.project)
    keep: dict = {}
    sg = load(args.stylegan)
    z_code = samples(sg, args.samples)
    code = in_w(sg, z_code)
    sample_set = Set("samples", code, render(sg, code), with_random_noise(sg, code), sample_pool(sg, judge, args.pool))
    sets = [sample_set]
    if args.project:
        sets.append(projected_set(sg, "mnist projected (W)", real, labels, "w", judge, perceptual, args.steps))
    found = find.mean_difference(sg, classifier="digits", n=args.latents, seed=0, pairs=True)
    rows = []
    for s in sets:
        rows += pairwise_rows(sg, s, found, judge, perceptual, strengths, keep)
    z_set = Set("samples", z_code, sample_set.images, sample_set.floor, sample_set.pool)
    rows += swap_rows(sg, "stylegan2", z_set, judge, perceptual, SG_RANGES, scales, style_swap, keep, True)
    if args.biggan:
        bg = load(args.biggan)
        code = samples(bg, args.samples)
        sets = [Set("samples", code, render(bg, code), None, sample_pool(bg, judge, args.pool))]
        if args.project:
            sets.append(projected_set(bg, "mnist projected (z, class fixed)", real, labels, "z", judge, perceptual,
                                      args.steps))
        for s in sets:
            rows += swap_rows(bg, "biggan", s, judge, perceptual, BG_RANGES, scales, block_swap, keep, True)
    best = frontier(rows)
    for b in best:
        print("frontier:", b, flush=True)
    if args.figure:
        picks = [("stylegan2", "samples", "mean pairwise", "all", 1.0), ("stylegan2", "samples", "class swap", "all", 1.0)]
        picks += [(b["generator"], b["images"], "mean pairwise" if b["best"]["edit"].startswith("mean") else "class swap",
                   b["best"]["layers"], b["best"]["strength"]) for b in best if b["best"]]
        if args.biggan:
            picks.insert(2, ("biggan", "samples", "class swap", "all", 1.0))
        picks = list(dict.fromkeys(picks))
        figure(keep, picks, args.figure)
        print("figure rows (start / edit):", picks, flush=True)
    write_result({"benchmark": "edit_layers", **provenance(), "stylegan": str(args.stylegan),
                  "biggan": str(args.biggan), "seconds": time.perf_counter() - started,
                  "stylegan_ranges": SG_RANGES, "biggan_ranges": BG_RANGES, "frontier": best,
                  "figure_rows": [list(map(str, k)) for k in picks] if args.figure else [], "rows": rows}, args.out)


if __name__ == "__main__":
    main()
