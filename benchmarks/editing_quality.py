"""Editing real images (issue 22): how well projection reconstructs held-out real digits, and how
often an edit turns a digit into the target class. Writes JSON (and a figure); results go into
BENCHMARKS.md.

    python benchmarks/editing_quality.py --stylegan runs/sg2 --biggan runs/bg --n 20 --steps 300 \
        --out benchmarks/results/editing_quality.json --figure docs/images/editing.png

Real images: the MNIST test split (`--mnist DIR`, held out: neither generator saw MNIST) and the
built-in digits (the generators' training set), `--n` of each, class-balanced, at 32 px grey.
Reconstruction: PSNR, SSIM (translation.metrics) and the domain-feature distance, the L2 distance
of the shipped *mnist* classifier's 128-d features of target and reconstruction (the projection's
perceptual loss uses the *digits* classifier, so the judge is a different network). Projection
runs on a batch of all targets at once (each image's optimisation is independent), so time per
image is the batch time / n.

Editability: StyleGAN2 with InterFaceGAN class directions (`svm`, samples scored by the digits
classifier): each image (projected in W, and fresh samples for comparison) is moved towards every
other class at several strengths; the rate at which the digits classifier then predicts the
target class, and the mean absolute pixel change. BigGAN: class transfer (projected z, class
swapped to each other class), same rate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from _report import provenance, write_result
from ganforge import load
from ganforge.data.digits import load_digits_dataset
from ganforge.data.mnist import load_mnist_dataset
from ganforge.editing import directions as find
from ganforge.editing.codes import LatentCode, class_vectors
from ganforge.editing.edit import class_transfer, edit, render
from ganforge.editing.perceptual import choose_perceptual
from ganforge.editing.project import ProjectSettings, project
from ganforge.metrics.classifiers import load_classifier
from ganforge.sampling import make_grid, save_image
from ganforge.translation.metrics import psnr, ssim

STRENGTHS = (2.0, 4.0, 6.0)


def balanced(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    per = max(1, n // 10)
    picked = []
    for c in range(10):
        idx = np.flatnonzero(labels.numpy() == c)
        picked += rng.choice(idx, per, replace=False).tolist()
    picked = picked[:n]
    return images[picked].float() / 127.5 - 1.0, labels[picked]


def scores(target: torch.Tensor, recon: torch.Tensor, judge: torch.nn.Module) -> dict[str, float]:
    with torch.no_grad():
        ft, fr = judge(target)[0], judge(recon)[0]
    return {"psnr": float(psnr(recon, target).mean()), "ssim": float(ssim(recon, target).mean()),
            "feature_distance": float((ft - fr).norm(dim=1).mean())}


def predict(judge: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return judge(images)[1].argmax(1)


def project_rows(g, sets, spaces, steps, digits_judge, mnist_judge, perceptual):
    rows, codes = [], {}
    for set_name, (target, _labels) in sets.items():
        for space, extra in spaces:
            settings = ProjectSettings(space=space, steps=steps, **extra.get("settings", {}))
            class_id = extra.get("class")
            start = time.perf_counter()
            if class_id == "predicted":  # a fixed class per image: the judge's reading of it
                class_id = predict(digits_judge, target).tolist()
            result = project(g, target, settings, perceptual, class_id)
            recon, code = result.reconstruction, result.code
            seconds = time.perf_counter() - start
            row = {"images": set_name, "space": space, "mode": extra.get("name", space), "n": len(target),
                   "steps": steps, "seconds_per_image": seconds / len(target),
                   **scores(target, recon, mnist_judge)}
            print(row, flush=True)
            rows.append(row)
            codes[(set_name, extra.get("name", space))] = (code, recon)
    return rows, codes


def encoder_rows(g, sets, encoder_dir, hyper_dir, iterations, mnist_judge, label):
    """One forward pass of the encoder (and HyperStyle's refinement) per image set."""
    from ganforge.editing.exports import load_encoder, load_hypernetwork
    from ganforge.editing.hyperstyle import refine

    rows = []
    encoder = load_encoder(encoder_dir, g)
    hyper = load_hypernetwork(hyper_dir, g)[0] if hyper_dir else None
    for set_name, (target, _labels) in sets.items():
        start = time.perf_counter()
        with torch.no_grad():
            code = encoder.encode(target)
            recon = render(g, code)
        seconds = time.perf_counter() - start
        rows.append({"images": set_name, "space": code.space, "mode": f"{label} encoder", "n": len(target),
                     "seconds_per_image": seconds / len(target), **scores(target, recon, mnist_judge)})
        print(rows[-1], flush=True)
        if hyper is not None:
            start = time.perf_counter()
            with torch.no_grad():
                refined, outputs = refine(g, hyper, code, target, iterations)
            seconds += time.perf_counter() - start
            rows.append({"images": set_name, "space": code.space,
                         "mode": f"{label} encoder + HyperStyle ({iterations} iterations)", "n": len(target),
                         "seconds_per_image": seconds / len(target),
                         **scores(target, outputs[-1].clamp(-1, 1), mnist_judge)})
            print(rows[-1], flush=True)
    return rows


def flip_rate(images: torch.Tensor, targets: torch.Tensor, judge: torch.nn.Module) -> float:
    return float((predict(judge, images) == targets).float().mean())


def stylegan_editability(g, codes, judge, samples: int) -> tuple[list[dict], dict]:
    found = find.svm(g, classifier="digits", n=2000, seed=0)
    names = found.names
    rows = []
    rng = torch.Generator().manual_seed(1)
    z = torch.randn(samples, g.dim_z, generator=rng)
    ids = torch.randint(0, 10, (samples,), generator=rng)
    sample_code = LatentCode("z", z, class_vectors(g, ids))
    inputs = {"samples": (sample_code, render(g, sample_code))}
    for key, (code, recon) in codes.items():
        if key[1] == "w":
            inputs[f"{key[0]} projected (W)"] = (code, recon)
    figure = {}
    for label, (code, base) in inputs.items():
        current = predict(judge, base)
        for s in STRENGTHS:
            hits, total, change = 0, 0, []
            for t, name in enumerate(names):
                keep = current != int(name)
                if not keep.any():
                    continue
                idx = keep.nonzero().flatten()
                sub = LatentCode(code.space, code.latent[idx], None if code.classes is None else code.classes[idx],
                                 {k: (v[idx] if v.ndim == 4 else v) for k, v in code.noise.items()})
                images, _ = edit(g, sub, found.vectors[t], found.space, [s])
                hits += int((predict(judge, images) == int(name)).sum())
                total += len(idx)
                change.append((images - base[idx]).abs().mean().item())
            rows.append({"generator": "stylegan2", "images": label, "edit": "InterFaceGAN class direction",
                         "strength": s, "to_target_rate": hits / total, "pairs": total,
                         "mean_abs_pixel_change": float(np.mean(change))})
            print(rows[-1], flush=True)
        figure[label] = (code, base)
    return rows, {"directions": found, "inputs": figure}


def biggan_editability(g, codes, judge, samples: int) -> list[dict]:
    rows = []
    rng = torch.Generator().manual_seed(1)
    z = torch.randn(samples, g.dim_z, generator=rng)
    ids = torch.randint(0, 10, (samples,), generator=rng)
    inputs = {"samples": LatentCode("z", z, class_vectors(g, ids))}
    for key, (code, _) in codes.items():
        inputs[f"{key[0]} projected ({key[1]})"] = code
    for label, code in inputs.items():
        images = class_transfer(g, code, list(range(10)))  # code-major: 10 per code
        targets = torch.arange(10).repeat(len(code))
        source = code.classes.argmax(1).repeat_interleave(10)
        other = targets != source
        rate = float((predict(judge, images)[other] == targets[other]).float().mean())
        rows.append({"generator": "biggan", "images": label, "edit": "class transfer", "to_target_rate": rate,
                     "pairs": int(other.sum())})
        print(rows[-1], flush=True)
    return rows


def figure(path: Path, sg, sg_fig, bg, bg_codes) -> None:
    """Rows: a StyleGAN2 sample and a projected real digit moved towards '8' (strengths 0..6);
    a real digit, its BigGAN projection and class swaps to 0..9."""
    found = sg_fig["directions"]
    t = found.names.index("8") if "8" in found.names else 0
    strengths = [0, 1.5, 3, 4.5, 6]
    rows = []
    for label in ("samples", "mnist projected (W)"):
        code, _ = sg_fig["inputs"][label]
        images, _ = edit(sg, code.select(0) if label != "samples" else LatentCode(code.space, code.latent[:1], code.classes[:1]),
                         found.vectors[t], found.space, strengths)
        rows.append(torch.cat([images, -torch.ones(7 - len(strengths), *images.shape[1:])]))
    code, recon = bg_codes[("mnist", "z, class free")]
    swaps = class_transfer(bg, code.select(0), list(range(10)))
    grid = torch.cat([torch.cat(rows), -torch.ones(0, *swaps.shape[1:])])
    save_image(make_grid(grid, 7), path.with_name(path.stem + "_stylegan2.png"))
    save_image(make_grid(torch.cat([recon[:1], swaps]), 11), path.with_name(path.stem + "_biggan.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stylegan", type=Path, required=True)
    parser.add_argument("--biggan", type=Path, required=True)
    parser.add_argument("--mnist", type=Path, default=Path(__file__).parents[1] / ".." / "shared" / "data" / "mnist")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--samples", type=int, default=100, help="generated samples for editability")
    parser.add_argument("--encoder", type=Path, help="a StyleGAN2 encoder run (train --recipe encoder)")
    parser.add_argument("--hyperstyle", type=Path, help="its HyperStyle run (train --recipe hyperstyle)")
    parser.add_argument("--biggan-encoder", type=Path, help="a BigGAN encoder run")
    parser.add_argument("--iterations", type=int, default=3, help="HyperStyle iterations")
    parser.add_argument("--strengths", default="2,4,6", help="edit strengths for editability")
    parser.add_argument("--editability-only", action="store_true",
                        help="skip projection: edit samples only (StyleGAN2 directions)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    global STRENGTHS
    STRENGTHS = tuple(float(x) for x in args.strengths.split(","))
    if args.editability_only:
        rows, found = stylegan_editability(load(args.stylegan), {}, load_classifier("digits"), args.samples)
        write_result({"benchmark": "editing_editability", **provenance(), "stylegan": str(args.stylegan),
                      "editability": rows, "svm": found["directions"].info}, args.out)
        return
    mnist = load_mnist_dataset(args.mnist, 32, 1)
    digits = load_digits_dataset(32, 1)
    sets = {"mnist": balanced(mnist.images, mnist.labels, args.n), "digits": balanced(digits.images, digits.labels, args.n)}
    digits_judge, mnist_judge = load_classifier("digits"), load_classifier("mnist")
    sg, bg = load(args.stylegan), load(args.biggan)
    perceptual = choose_perceptual(None, "digits")
    sg_rows, sg_codes = project_rows(sg, sets, [("z", {"name": "z", "class": "predicted"}), ("w", {}), ("w+", {})],
                                     args.steps, digits_judge, mnist_judge, perceptual)
    bg_rows, bg_codes = project_rows(bg, sets, [("z", {"name": "z, class free", "settings": {"free_class": True}}),
                                                ("z", {"name": "z, class fixed (classifier's)", "class": "predicted"})],
                                     args.steps, digits_judge, mnist_judge, perceptual)
    if args.encoder:
        sg_rows += encoder_rows(sg, sets, args.encoder, args.hyperstyle, args.iterations, mnist_judge, "StyleGAN2")
    if args.biggan_encoder:
        bg_rows += encoder_rows(bg, sets, args.biggan_encoder, None, 0, mnist_judge, "BigGAN")
    edit_rows, sg_fig = stylegan_editability(sg, sg_codes, digits_judge, args.samples)
    edit_rows += biggan_editability(bg, bg_codes, digits_judge, args.samples)
    if args.figure:
        figure(args.figure, sg, sg_fig, bg, bg_codes)
    result = {"benchmark": "editing_quality", **provenance(), "stylegan": str(args.stylegan),
              "biggan": str(args.biggan), "perceptual": perceptual.name, "projection": sg_rows + bg_rows,
              "editability": edit_rows, "svm": sg_fig["directions"].info}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
