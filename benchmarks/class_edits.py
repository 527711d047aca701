"""Class edits that target one class (issue 22, point 2): InterFaceGAN's one-vs-rest SVM normal
(in units of the latents' std along it, as `ganforge directions --method svm`) against class-mean
differences (`--method mean`: one-vs-rest, and `--pairs`: the mean latent of the target class
minus that of the image's own class, strength 1 = one class mean carried onto the other), on a
conditional StyleGAN2's W; and BigGAN's class swap against extrapolating its class vector
(c = onehot(a) + s (onehot(b) - onehot(a)), s > 1).

Each image (fresh samples; optionally MNIST test digits projected in W) is moved towards every
class its digits-classifier reading is not; reported: how often the digits classifier (which
also labelled the latents the directions come from) and, as an independent judge, the mnist
classifier then read the target class, and the mean absolute pixel change ([-1, 1] units).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/class_edits.py --stylegan runs/sg2 \
        --biggan runs/bg --out benchmarks/results/class_edits.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from _report import provenance, write_result
from ganforge import load
from ganforge.data.mnist import load_mnist_dataset
from ganforge.editing import directions as find
from ganforge.editing.codes import LatentCode, class_vectors
from ganforge.editing.edit import edit, render
from ganforge.editing.perceptual import choose_perceptual
from ganforge.editing.project import ProjectSettings, project
from ganforge.metrics.classifiers import load_classifier


def predict(judge: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([judge(b)[1].argmax(1) for b in images.split(256)])


def samples(g, n: int, seed: int = 1) -> LatentCode:
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, g.dim_z, generator=rng)
    return LatentCode("z", z, class_vectors(g, torch.randint(0, 10, (n,), generator=rng)))


def in_w(g, code: LatentCode) -> LatentCode:
    from ganforge.api.editing import _edit_space_latents

    return LatentCode("w", _edit_space_latents(g, code), None, code.noise)


def subset(code: LatentCode, idx: torch.Tensor) -> LatentCode:
    return LatentCode(code.space, code.latent[idx], None if code.classes is None else code.classes[idx],
                      {k: (v[idx] if v.ndim == 4 else v) for k, v in code.noise.items()})


def stylegan_rows(g, inputs, judges, strengths, n_latents):
    """Rows per (input set, direction kind, strength)."""
    kinds = {
        "svm one-vs-rest (std units)": (find.svm(g, classifier="digits", n=n_latents, seed=0), strengths["svm"]),
        "mean one-vs-rest": (find.mean_difference(g, classifier="digits", n=n_latents, seed=0), strengths["mean"]),
        "mean pairwise (own class -> target)": (find.mean_difference(g, classifier="digits", n=n_latents, seed=0,
                                                                     pairs=True), strengths["mean"]),
    }
    rows, info = [], {k: v[0].info for k, v in kinds.items()}
    for label, (code, base) in inputs.items():
        current = predict(judges["digits"], base)
        for kind, (found, values) in kinds.items():
            for s in values:
                hits = {k: 0 for k in judges}
                total, change = 0, []
                for t in range(10):
                    for a in range(10):
                        if a == t:
                            continue
                        idx = (current == a).nonzero().flatten()
                        if not len(idx):
                            continue
                        name = f"{a}->{t}" if found.info.get("pairs") else str(t)
                        if name not in found.names:
                            continue
                        images, _ = edit(g, subset(code, idx), found.vectors[found.names.index(name)], found.space, [s])
                        for k, judge in judges.items():
                            hits[k] += int((predict(judge, images) == t).sum())
                        total += len(idx)
                        change.append(float((images - base[idx]).abs().mean()) * len(idx))
                row = {"generator": "stylegan2", "images": label, "direction": kind, "strength": s, "pairs": total,
                       **{f"to_target_{k}": hits[k] / total for k in judges},
                       "mean_abs_pixel_change": sum(change) / total}
                print(row, flush=True)
                rows.append(row)
    return rows, info


def biggan_rows(g, n, judges, scales):
    code = samples(g, n)
    current = predict(judges["digits"], render(g, code))
    rows = []
    for s in scales:
        hits = {k: 0 for k in judges}
        total = 0
        for t in range(10):
            idx = (current != t).nonzero().flatten()
            own = torch.nn.functional.one_hot(current[idx], 10).float()
            target = torch.nn.functional.one_hot(torch.full((len(idx),), t), 10).float()
            classes = own + s * (target - own)
            images = render(g, LatentCode("z", code.latent[idx], classes))
            for k, judge in judges.items():
                hits[k] += int((predict(judge, images) == t).sum())
            total += len(idx)
        row = {"generator": "biggan", "images": "samples", "direction": "class vector onehot(a) + s (onehot(b) - onehot(a))",
               "strength": s, "pairs": total, **{f"to_target_{k}": hits[k] / total for k in judges}}
        print(row, flush=True)
        rows.append(row)
    return rows


def held_out_digits(mnist_dir: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n // 10 MNIST test digits per class (seed 0) at 32 px in [-1, 1], and their labels."""
    mnist = load_mnist_dataset(mnist_dir, 32, 1)
    rng = np.random.default_rng(0)
    picked = np.concatenate([rng.choice(np.flatnonzero(mnist.labels.numpy() == c), n // 10, replace=False)
                             for c in range(10)])
    return mnist.images[picked].float() / 127.5 - 1.0, mnist.labels[picked].long()

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stylegan", type=Path, required=True)
    parser.add_argument("--biggan", type=Path)
    parser.add_argument("--mnist", type=Path, default=Path(__file__).parents[1] / ".." / "shared" / "data" / "mnist")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--latents", type=int, default=2000, help="labelled latents the directions come from")
    parser.add_argument("--project", type=int, default=0, help="also MNIST test digits projected in W (this many)")
    parser.add_argument("--steps", type=int, default=150, help="projection steps")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    judges = {"digits": load_classifier("digits"), "mnist": load_classifier("mnist")}
    sg = load(args.stylegan)
    code = in_w(sg, samples(sg, args.samples))
    inputs = {"samples": (code, render(sg, code))}
    if args.project:
        target, _ = held_out_digits(args.mnist, args.project)
        result = project(sg, target, ProjectSettings(space="w", steps=args.steps), choose_perceptual(None, "digits"))
        inputs["mnist projected (W)"] = (result.code, result.reconstruction)
    strengths = {"svm": [2.0, 4.0, 6.0], "mean": [0.5, 1.0, 1.5, 2.0]}
    rows, info = stylegan_rows(sg, inputs, judges, strengths, args.latents)
    if args.biggan:
        rows += biggan_rows(load(args.biggan), args.samples, judges, [1.0, 1.5, 2.0, 3.0])
    write_result({"benchmark": "class_edits", **provenance(), "stylegan": str(args.stylegan),
                  "biggan": str(args.biggan), "rows": rows, "directions": info}, args.out)


if __name__ == "__main__":
    main()
