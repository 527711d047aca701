"""StarGAN (one model) versus pairwise CycleGANs for the same domains (issue 21): StarGAN's point is
one G(x, c) for k domains where earlier methods needed a model per pair, k(k-1)/2 of them.

The domains are single-attribute renderings of the built-in digit demo (`demo:digit-attributes`
at its 32 px, RGB): plain (white on black), thick, inverted, red, i.e. the attribute vectors
(thick, inverted, red) = 000, 100, 010, 001. Each of the demo's 1,497 training digits is put in one
domain (a seeded balanced draw: unpaired, as real data, where each face has one hair colour); the
300 held-out digits are rendered in every domain, so each translation also has its truth.

Both sides train through the engine exactly as a user would (`ganforge.api.train`, the shipped
recipes, files on disk): one StarGAN on `attributes:FILE.csv` (all domains' images, labels
(thick, inverted, red)), and one CycleGAN per pair of domains on `unpaired:DIR` (trainA/trainB: the
training digits of the two domains). Equal budget per model: the same steps (each recipe's own
step: StarGAN's is one D iteration with G every n_critic=5th, CycleGAN's one G and one D update),
batch, size, schedule (half constant, half linear decay) and G trunk (ResNet, ngf 16, 3 residual
blocks: the StarGAN demo's G; CycleGAN's own D, the demo's 34x34 PatchGAN). Because a StarGAN step
has a fifth of a G update, StarGAN is also trained for n_critic x the steps (equal G updates).

Scored per direction X -> Y on the 300 held-out digits rendered in X, by the shipped attribute
classifier (`digit_attributes`): domain accuracy (all three attributes read as Y's), attribute
accuracy (per attribute), flip accuracy (the attributes X and Y differ in); FID/KID of the
translations against the real test digits rendered in Y, in the classifier's features; L1/PSNR
against the true rendering of the same digit in Y (SSIM is left out: the float64
reference SSIM takes ~7 s per direction on this CPU); reconstruction L1 of X -> Y -> X (StarGAN:
G(G(x, y), x); CycleGAN: G_YX(G_XY(x))). Reference rows: the untranslated inputs and the real
renderings in Y scored the same way.

    PYTHONPATH=src:benchmarks OMP_NUM_THREADS=1 python benchmarks/stargan_vs_cyclegans.py \
        --steps 400 --batch 8 --out benchmarks/results/stargan_vs_cyclegans.json
"""

from __future__ import annotations

import argparse
import itertools
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from _report import provenance, write_result
from ganforge.api import load, make_config, train
from ganforge.metrics.features import extract, get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.kid import kernel_inception_distance
from ganforge.models import count_parameters
from ganforge.training.run_dir import read_metrics
from ganforge.translation import demos
from ganforge.translation.inference import run_generator
from ganforge.translation.metrics import l1_error, psnr
from ganforge.translation.models import build_model

SIDE = 32
ATTRIBUTES = list(demos.ATTRIBUTES)  # thick, inverted, red
DOMAINS = {"plain": (0, 0, 0), "thick": (1, 0, 0), "inverted": (0, 1, 0), "red": (0, 0, 1)}
ASSIGN_SEED = 21
N_CRITIC = 5
KID_SUBSETS = 100

# both sides: the demo's size, no mirroring (digits), the StarGAN demo's G trunk and widths
SHARED = ["translation.load_size=32", "translation.crop_size=32", "data.hflip=false",
          "translation.generator=resnet_3blocks", "translation.ngf=16", "translation.ndf=32",
          "translation.features=digit_attributes"]
STARGAN = [f"translation.attributes=[{','.join(ATTRIBUTES)}]", "translation.n_layers_d=4",
           f"translation.n_critic={N_CRITIC}"]
CYCLEGAN = ["translation.discriminator=n_layers", "translation.n_layers_d=2",
            "translation.channels_a=3", "translation.channels_b=3"]


def schedule(steps: int, batch: int) -> list[str]:
    """Half the steps at the recipe's learning rate, half decaying linearly, in 4 epochs; one
    evaluation (the run's own) and one checkpoint at the end."""
    per_epoch = max(1, steps // 4)
    return ["translation.epochs=2", "translation.epochs_decay=2", f"translation.steps_per_epoch={per_epoch}",
            "translation.eval_every=0", f"train.batch_size={batch}", f"train.log_every={min(50, per_epoch)}",
            f"train.sample_every={4 * per_epoch}", f"train.checkpoint_every={4 * per_epoch}"]


def render(digits: torch.Tensor, domain: str) -> torch.Tensor:
    """uint8 RGB renderings (N, 3, S, S) of grey digits in one domain."""
    attrs = torch.tensor(DOMAINS[domain], dtype=torch.float32).expand(len(digits), -1)
    return demos.with_attributes(digits, attrs)


def _png(image: torch.Tensor, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.permute(1, 2, 0).numpy(), "RGB").save(path)
    return str(path)


def write_data(root: Path, domains: list[str]) -> dict[str, Any]:
    """The StarGAN CSV (every training digit in its domain; the test digits each in one domain,
    for the run's own evaluation) and one unpaired folder per pair of domains."""
    digits, _ = demos.digits_at(SIDE)
    train_idx, test_idx = demos.split()
    k = len(domains)
    order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(ASSIGN_SEED))
    domain_of = torch.empty(len(train_idx), dtype=torch.long)
    domain_of[order] = torch.arange(len(train_idx)) % k  # balanced, random
    train_digits, test_digits = digits[train_idx], digits[test_idx]
    train_by = {d: render(train_digits[domain_of == i], d) for i, d in enumerate(domains)}
    test_by = {d: render(test_digits, d) for d in domains}
    rows = ["file," + ",".join(ATTRIBUTES) + ",split"]
    for d in domains:
        for j, image in enumerate(train_by[d]):
            _png(image, root / "images" / f"train_{d}_{j}.png")
            rows.append(f"images/train_{d}_{j}.png," + ",".join(map(str, DOMAINS[d])) + ",train")
    for j in range(len(test_digits)):
        d = domains[j % k]
        _png(test_by[d][j], root / "images" / f"test_{d}_{j}.png")
        rows.append(f"images/test_{d}_{j}.png," + ",".join(map(str, DOMAINS[d])) + ",test")
    csv = root / "attributes.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    pairs = {}
    for x, y in itertools.combinations(domains, 2):
        folder = root / f"{x}2{y}"
        for side, d in (("A", x), ("B", y)):
            for j, image in enumerate(train_by[d]):
                _png(image, folder / f"train{side}" / f"{j}.png")
            for j, image in enumerate(test_by[d]):
                _png(image, folder / f"test{side}" / f"{j}.png")
        pairs[(x, y)] = folder
    return {"csv": csv, "pairs": pairs, "test": test_by,
            "train_per_domain": {d: int(len(v)) for d, v in train_by.items()}}


def timed_train(recipe: str, overrides: list[str], data: str, out: Path) -> dict[str, Any]:
    """Train through the API; wall and CPU seconds (this process, 1 thread), parameters."""
    config = make_config(recipe, overrides, data=data)
    start, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    train(config, out=out, overwrite=True, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF)
    rows = read_metrics(out)
    g = load(out)
    return {"command": " ".join(["ganforge train --recipe", recipe, "--data", data, *overrides]),
            "steps": max(r["step"] for r in rows if r["kind"] == "train"),
            "wall_seconds": round(time.perf_counter() - start, 1),
            "cpu_seconds": round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 1),
            "parameters": {name: count_parameters(net) for name, net in
                           build_model(config, "meta").networks.items()},
            "generator": g, "run_dir": str(out)}


class Judge:
    """The shipped attribute classifier: its readings and features of uint8 or [-1, 1] images."""

    def __init__(self) -> None:
        self.net = get_extractor("digit_attributes")
        names = list(self.net.class_names)
        self.columns = [names.index(a) for a in ATTRIBUTES]
        self.real: dict[str, Any] = {}

    def read(self, images: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        out = extract(self.net, images.split(500))
        return out.features, torch.as_tensor(np.asarray(out.logits))[:, self.columns] > 0

    def scores(self, images: torch.Tensor, source: str, target: str, test: dict[str, torch.Tensor],
               seed: int) -> dict[str, float]:
        features, predicted = self.read(images)
        want = torch.tensor(DOMAINS[target], dtype=torch.bool)
        changed = want != torch.tensor(DOMAINS[source], dtype=torch.bool)
        hits = predicted == want
        if target not in self.real:
            self.real[target] = self.read(test[target])[0]
        real = self.real[target]
        result = {"domain_accuracy": float(hits.all(1).float().mean()),
                  "attribute_accuracy": float(hits.float().mean()),
                  "flip_accuracy": float(hits[:, changed].float().mean()) if changed.any() else float("nan")}
        if torch.isfinite(torch.as_tensor(features)).all():
            result["fid"] = float(fid_from_features(features, real)["fid"])
            result["kid"] = float(kernel_inception_distance(features, real, subsets=KID_SUBSETS, seed=seed)["mean"])
        truth = test[target]
        result["l1_to_truth"] = float(l1_error(images, truth).mean())
        result["psnr_to_truth"] = float(psnr(images, truth).mean())
        return result


def _label(domain: str, n: int) -> torch.Tensor:
    return torch.tensor(DOMAINS[domain], dtype=torch.float32).expand(n, -1).contiguous()


def score_stargan(g: Any, test: dict[str, torch.Tensor], judge: Judge, seed: int) -> dict[str, dict]:
    net, rows = g.network("AtoB"), {}
    for x, y in itertools.permutations(test, 2):
        n = len(test[x])
        out = run_generator(net, test[x], "running_stats", seed, _label(y, n))
        back = run_generator(net, out, "running_stats", seed, _label(x, n))
        rows[f"{x}->{y}"] = {**judge.scores(out, x, y, test, seed),
                             "reconstruction_l1": float(l1_error(back, test[x]).mean())}
    return rows


def score_cyclegans(models: dict[tuple[str, str], Any], test: dict[str, torch.Tensor], judge: Judge,
                    seed: int) -> dict[str, dict]:
    rows = {}
    for (a, b), g in models.items():
        for x, y, there, back in ((a, b, "AtoB", "BtoA"), (b, a, "BtoA", "AtoB")):
            out = run_generator(g.network(there), test[x], "running_stats", seed)
            rec = run_generator(g.network(back), out, "running_stats", seed)
            rows[f"{x}->{y}"] = {**judge.scores(out, x, y, test, seed),
                                 "reconstruction_l1": float(l1_error(rec, test[x]).mean())}
    return rows


def references(test: dict[str, torch.Tensor], judge: Judge, seed: int) -> dict[str, dict]:
    """Untranslated inputs (doing nothing) and the real renderings of the targets (the ceiling)."""
    rows: dict[str, dict] = {"identity": {}, "real_targets": {}}
    for x, y in itertools.permutations(test, 2):
        rows["identity"][f"{x}->{y}"] = {**judge.scores(test[x], x, y, test, seed), "reconstruction_l1": 0.0}
        real = judge.scores(test[y], x, y, test, seed)  # FID/KID/L1 against itself: not meaningful
        rows["real_targets"][f"{x}->{y}"] = {k: v for k, v in real.items() if k.endswith("accuracy")}
    return rows


def mean_rows(rows: dict[str, dict]) -> dict[str, float]:
    keys = sorted({k for r in rows.values() for k in r})
    out = {}
    for key in keys:
        values = [r[key] for r in rows.values() if key in r and r[key] == r[key]]
        out[key] = round(float(np.mean(values)), 4) if values else float("nan")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="steps per model (each recipe's own step)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=list(DOMAINS))
    parser.add_argument("--no-equal-g-updates", action="store_true",
                        help="skip the StarGAN run at n_critic x the steps (equal G updates)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="stargan_vs_cyclegans_"))
    begin = time.perf_counter()
    data = write_data(work / "data", args.domains)
    test, judge = data["test"], Judge()
    seed_flag = [f"train.seed={args.seed}"]
    plan = schedule(args.steps, args.batch)
    stargan_runs = {"equal_steps": args.steps}
    if not args.no_equal_g_updates:
        stargan_runs["equal_g_updates"] = args.steps * N_CRITIC
    result: dict[str, Any] = {"benchmark": "stargan_vs_cyclegans", "provenance": provenance(),
                              "domains": {d: DOMAINS[d] for d in args.domains}, "attributes": ATTRIBUTES,
                              "train_digits_per_domain": data["train_per_domain"],
                              "test_digits": int(len(next(iter(test.values())))),
                              "steps_per_model": args.steps, "batch": args.batch, "threads": args.threads,
                              "stargan": {}, "cyclegans": {}}
    for label, steps in stargan_runs.items():
        row = timed_train("stargan", [*SHARED, *STARGAN, *schedule(steps, args.batch), *seed_flag],
                          f"attributes:{data['csv']}", work / f"stargan_{label}")
        g = row.pop("generator")
        per_direction = score_stargan(g, test, judge, args.seed)
        result["stargan"][label] = {**row, "g_updates": steps // N_CRITIC,
                                    "total_parameters": sum(row["parameters"].values()),
                                    "generator_parameters": row["parameters"]["G"],
                                    "per_direction": per_direction, "mean": mean_rows(per_direction)}
    models, cyc = {}, {}
    for (x, y), folder in data["pairs"].items():
        row = timed_train("cyclegan", [*SHARED, *CYCLEGAN, *plan, *seed_flag], f"unpaired:{folder}",
                          work / f"cyclegan_{x}2{y}")
        models[(x, y)] = row.pop("generator")
        cyc[f"{x}<->{y}"] = {**row, "g_updates": args.steps}
    per_direction = score_cyclegans(models, test, judge, args.seed)
    result["cyclegans"] = {
        "models": cyc, "count": len(cyc),
        "total_parameters": sum(sum(r["parameters"].values()) for r in cyc.values()),
        "generator_parameters": sum(r["parameters"]["G_AB"] + r["parameters"]["G_BA"] for r in cyc.values()),
        "generators": 2 * len(cyc),
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in cyc.values()), 1),
        "wall_seconds": round(sum(r["wall_seconds"] for r in cyc.values()), 1),
        "per_direction": per_direction, "mean": mean_rows(per_direction)}
    refs = references(test, judge, args.seed)
    result["reference"] = {k: {"per_direction": v, "mean": mean_rows(v)} for k, v in refs.items()}
    result["benchmark_wall_seconds"] = round(time.perf_counter() - begin, 1)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
