"""StarGAN and BicycleGAN (issue 21): parameter counts against the authors' code, CPU training
speed at 128 px, and each built-in demo's metrics after its default run. Writes JSON; results
go into BENCHMARKS.md.

    python benchmarks/manipulation.py params --stargan-repo DIR --bicyclegan-repo DIR \
        --out benchmarks/results/manipulation_params.json
    python benchmarks/manipulation.py speed --recipe stargan --resolution 128 \
        --out benchmarks/results/manipulation_speed_stargan.json
    python benchmarks/manipulation.py demo --recipe stargan \
        --out benchmarks/results/manipulation_demo_stargan.json

params: the authors' networks are built on the CPU from a checkout (yunjey/stargan `model.py`,
junyanz/BicycleGAN `models/networks.py`, imported by path; nothing of theirs is copied here) at
their default sizes, and counted beside ganforge's networks built from the recipes.

speed: the recipe's paper networks at 128 px (StarGAN: the CelebA settings, batch 16, a cycle of
n_critic=5 steps = 5 D and 1 G update; BicycleGAN: U-Net-128 + resnet_128 encoder, batch 2) on
synthetic uint8 images, fp32; images/s counts the real images a step consumes.

demo: `ganforge train --recipe R` exactly as a user runs it (no --data), timed, then its last
evaluation, with reference rows: StarGAN's identity (the untranslated inputs judged against the
flipped targets) and the attribute classifier on real renderings of the targets; BicycleGAN's
diversity of the real test set (distinct digits) for scale.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from _report import provenance, write_result
from ganforge.api import make_config, train
from ganforge.models import count_parameters
from ganforge.training.launch import make_loop
from ganforge.training.run_dir import RunDir, read_metrics
from ganforge.translation.data import TranslationData
from ganforge.translation.models import build_model


def _module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def params(stargan_repo: Path, bicyclegan_repo: Path, commits: list[str]) -> dict:
    """ganforge's paper-size networks against the authors' (CPU, default sizes)."""
    rows: dict[str, Any] = {}
    sg = _module(stargan_repo / "model.py", "stargan_reference")
    config = make_config("stargan", ["demo_overrides=[]"], data="celeba:unused")
    ours = build_model(config, "meta").networks
    rows["stargan"] = {
        "settings": "CelebA: 128 px, 5 attributes, conv_dim 64, G 6 residual blocks, D 6 strided convs",
        "G": {"ganforge": count_parameters(ours["G"]), "official": count_parameters(sg.Generator(64, 5, 6))},
        "D": {"ganforge": count_parameters(ours["D"]),
              "official": count_parameters(sg.Discriminator(128, 64, 5, 6))},
    }
    bg = _module(bicyclegan_repo / "models" / "networks.py", "bicyclegan_reference")
    norm, relu, lrelu = bg.get_norm_layer("instance"), bg.get_non_linearity("relu"), bg.get_non_linearity("lrelu")
    for label, extra, g_ref in (
        ("bicyclegan", [], lambda: bg.G_Unet_add_all(3, 3, 8, 8, 64, norm_layer=norm, nl_layer=relu)),
        ("bicyclegan_z_input", ["translation.z_injection=input"],
         lambda: bg.G_Unet_add_input(3, 3, 8, 8, 64, norm_layer=norm, nl_layer=relu)),
    ):
        config = make_config("bicyclegan", ["demo_overrides=[]", *extra], data="paired:unused")
        ours = build_model(config, "meta").networks
        rows[label] = {
            "settings": "edges2shoes-style RGB->RGB at 256 px: unet_256, nz 8, resnet_256 encoder, "
                        "2-scale basic_256_multi D, instance norm",
            "G": {"ganforge": count_parameters(ours["G"]), "official": count_parameters(g_ref())},
            "E": {"ganforge": count_parameters(ours["E"]),
                  "official": count_parameters(bg.E_ResNet(3, 8, 64, 5, norm, lrelu, vaeLike=True))},
            "D": {"ganforge": count_parameters(ours["D"]),
                  "official": count_parameters(bg.D_NLayersMulti(3, 64, 3, norm, num_D=2))},
        }
    for row in rows.values():
        for counts in row.values():
            if isinstance(counts, dict):
                counts["equal"] = counts["ganforge"] == counts["official"]
    return {"benchmark": "manipulation_params", "provenance": provenance(),
            "reference_checkouts": {"stargan": str(stargan_repo), "bicyclegan": str(bicyclegan_repo)},
            "reference_commits": commits, "networks": rows}


SPEED_SETTINGS = {
    128: {
        "stargan": ["demo_overrides=[]", "translation.crop_size=128", "translation.load_size=128"],
        "bicyclegan": ["demo_overrides=[]", "translation.generator=unet_128", "translation.encoder_blocks=4",
                       "translation.crop_size=128", "translation.load_size=143"],
        "spade": ["demo_overrides=[]", "translation.crop_size=128", "translation.load_size=128",
                  "translation.label_nc=150", "translation.contain_dontcare_label=true"],
    },
    256: {
        "stargan": ["demo_overrides=[]", "translation.crop_size=256", "translation.load_size=256",
                    "translation.n_layers_d=7"],
        "bicyclegan": ["demo_overrides=[]"],
        "spade": ["demo_overrides=[]", "translation.load_size=256", "translation.label_nc=150",
                  "translation.contain_dontcare_label=true"],
    },
}


def synthetic(config: Any, n: int) -> TranslationData:
    tc = config.translation
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (n, tc.channels_a, tc.load_size, tc.load_size), generator=gen, dtype=torch.uint8)
    b = torch.randint(0, 256, (n, tc.channels_b, tc.load_size, tc.load_size), generator=gen, dtype=torch.uint8)
    if tc.mode == "stargan":
        attrs = torch.randint(0, 2, (n, len(tc.attributes)), generator=gen).float()
        return TranslationData(a, a, False, None, None, False, "synthetic", attributes=tuple(tc.attributes),
                               train_attrs=attrs)
    if tc.mode == "spade":  # label maps of the recipe's classes
        a = torch.randint(0, tc.label_nc, a.shape, generator=gen, dtype=torch.uint8)
    return TranslationData(a, b, True, None, None, False, "synthetic")


def speed(recipe: str, resolution: int, cycles: int, n_critic: int | None = None) -> dict:
    """Time `cycles` cycles after a one-cycle warm-up. `n_critic` (StarGAN only) shortens a cycle
    so a slow resolution fits a short run; the per-step times then give the paper's 5-step cycle
    as 4 D-only steps + 1 D+G step."""
    source = {"stargan": "celeba:unused", "spade": "labels:unused"}.get(recipe, "paired:unused")
    extra = [f"translation.n_critic={n_critic}"] if n_critic is not None and recipe == "stargan" else []
    config = make_config(recipe, [*SPEED_SETTINGS[resolution][recipe], *extra, "translation.features=none",
                                  "train.device=cpu"], data=source)
    loop = make_loop(config, synthetic(config, max(2 * config.train.batch_size, 4)), RunDir(Path("/nonexistent")))
    per_cycle = config.translation.n_critic if recipe == "stargan" else 1
    step = 0
    for _ in range(per_cycle):  # warm-up: one cycle
        step += 1
        loop.task.train_step(step)
    start, per_step = time.perf_counter(), []
    for _ in range(cycles * per_cycle):
        step += 1
        t0, c0 = time.perf_counter(), time.process_time()
        loop.task.train_step(step)
        per_step.append({"step": step, "updates": "D+G" if recipe != "stargan" or step % per_cycle == 0
                         else "D", "seconds": round(time.perf_counter() - t0, 2),
                         "cpu_seconds": round(time.process_time() - c0, 2)})
    seconds = time.perf_counter() - start
    steps = cycles * per_cycle
    batch = config.train.batch_size
    extra_rows: dict[str, Any] = {}
    if recipe == "stargan" and per_cycle != 5:
        d_only = [r["seconds"] for r in per_step if r["updates"] == "D"]
        d_g = [r["seconds"] for r in per_step if r["updates"] == "D+G"]
        if d_only and d_g:
            cycle = 4 * sum(d_only) / len(d_only) + sum(d_g) / len(d_g)
            extra_rows["paper_cycle_estimate_s"] = round(cycle, 2)
            extra_rows["paper_cycle_note"] = (f"timed with n_critic={per_cycle} to fit a short run; the "
                                              "paper's n_critic=5 cycle = 4 D-only steps + 1 D+G step")
            extra_rows["images_per_s_paper_cycle"] = round(5 * batch / cycle, 3)
    return {"benchmark": "manipulation_speed", "recipe": recipe, "resolution": resolution,
            "provenance": provenance(), "batch_size": batch, "steps_timed": steps,
            "step_definition": f"one D iteration (G every n_critic={per_cycle}th)" if recipe == "stargan"
            else "one G(+E) and one D update", "per_step": per_step, **extra_rows,
            "seconds": round(seconds, 2),
            "steps_per_s": round(steps / seconds, 4), "images_per_s": round(steps * batch / seconds, 3),
            "parameters": {k: count_parameters(v) for k, v in loop.task.model.networks.items()}}


def demo(recipe: str, out_dir: Path | None, existing: Path | None = None) -> dict:
    """Train the default demo (or read an `existing` run of it: then the wall time is the span
    of its metrics log and the CPU time is not known)."""
    if existing is None:
        run = (out_dir or Path(tempfile.mkdtemp())) / f"demo_{recipe}"
        start, cpu = time.perf_counter(), time.process_time()
        train(make_config(recipe), out=run, overwrite=True, progress=False)
        wall, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    else:
        run = existing
        times = [r["time"] for r in read_metrics(run)]
        wall, cpu_s = max(times) - min(times), float("nan")
    rows = read_metrics(run)
    evaluation = json.loads((run / "evaluation.json").read_text())
    steps = max(r["step"] for r in rows if r["kind"] == "train")
    speeds = [r["images_per_s"] for r in rows if r["kind"] == "train"]
    return {"benchmark": "manipulation_demo", "recipe": recipe, "provenance": provenance(),
            "command": f"ganforge train --recipe {recipe}", "steps": steps,
            "wall_seconds": round(wall, 1), "cpu_seconds": None if cpu_s != cpu_s else round(cpu_s, 1),
            "timing_note": "" if existing is None else "read from an existing run: wall seconds are "
            "the span of its metrics log (from the first log, so the first log_every steps are "
            "not counted); CPU seconds were not measured",
            "median_train_images_per_s": sorted(speeds)[len(speeds) // 2],
            "evaluation": evaluation, "reference": reference(recipe), "run_dir": str(run)}


def reference(recipe: str) -> dict:
    """What the metrics read on real images: the ceiling (or floor) a demo is compared with."""
    from ganforge.metrics.features import extract, get_extractor
    from ganforge.metrics.translation_conditional import attribute_scores, mean_pairwise_distance
    from ganforge.translation import demos
    from ganforge.translation.conditions import flipped_targets

    _, test_idx = demos.split()
    if recipe == "stargan":
        digits, _ = demos.digits_at(32)
        digits = digits[test_idx]
        attrs = demos.random_attributes(1797)[test_idx]
        judge = get_extractor("digit_attributes")
        targets = torch.cat(flipped_targets(attrs))
        flipped = torch.arange(3).repeat_interleave(len(attrs))
        truth = demos.with_attributes(digits.repeat(3, 1, 1, 1), targets)
        identity = demos.with_attributes(digits.repeat(3, 1, 1, 1), attrs.repeat(3, 1))
        return {"real_renderings_of_the_targets": attribute_scores(extract(judge, truth.split(500)).logits,
                                                                   targets, flipped),
                "identity_untranslated_inputs": attribute_scores(extract(judge, identity.split(500)).logits,
                                                                 targets, flipped)}
    rendered = demos.render("edges2colourdigits", 32, 1, 3)["B"][test_idx][:296].float() / 127.5 - 1
    return {"diversity_l1_of_distinct_real_test_digits_groups_of_8":
            mean_pairwise_distance(rendered.view(37, 8, *rendered.shape[1:]), "l1")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("params")
    p.add_argument("--stargan-repo", type=Path, required=True, help="a checkout of yunjey/stargan")
    p.add_argument("--bicyclegan-repo", type=Path, required=True, help="a checkout of junyanz/BicycleGAN")
    p.add_argument("--commits", nargs="*", default=[], help="the checkouts' commits, for the record")
    s = sub.add_parser("speed")
    s.add_argument("--recipe", choices=("stargan", "bicyclegan", "spade"), required=True)
    s.add_argument("--resolution", type=int, choices=(128, 256), default=128)
    s.add_argument("--cycles", type=int, default=2)
    s.add_argument("--n-critic", type=int, default=None,
                   help="StarGAN only: a shorter cycle for a short run (the paper's cycle is estimated)")
    d = sub.add_parser("demo")
    d.add_argument("--recipe", choices=("stargan", "bicyclegan"), required=True)
    d.add_argument("--run-root", type=Path, default=None)
    d.add_argument("--existing", type=Path, default=None, help="a finished default run to report")
    for q in (p, s, d):
        q.add_argument("--out", type=Path)
        q.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.what == "params":
        result = params(args.stargan_repo, args.bicyclegan_repo, args.commits)
    elif args.what == "speed":
        result = speed(args.recipe, args.resolution, args.cycles, args.n_critic)
    else:
        result = demo(args.recipe, args.run_root, args.existing)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
