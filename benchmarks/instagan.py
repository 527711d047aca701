"""InstaGAN (issue 24) against the authors' code, and its demo against CycleGAN. Writes JSON;
results go into BENCHMARKS.md.

    python benchmarks/instagan.py parity --repo /tmp/instagan --out benchmarks/results/instagan_parity.json
    python benchmarks/instagan.py demo --out benchmarks/results/instagan_demo.json
    python benchmarks/instagan.py speed [--paper] --out benchmarks/results/instagan_speed.json

parity: the authors' networks (sangwoomo/instagan `models/networks.py` and
`models/insta_gan_model.py`, imported by path from a checkout; nothing of theirs is copied here)
built at their defaults (netG=set, netD=set: 9 blocks, ngf = ndf = 64, instance norm, RGB) and
counted beside ganforge's from the recipe; then, with the authors' weights copied into
ganforge's networks, the outputs for the same input: one generator pass (image + 3 masks, one of
them absent), the discriminator (their spectral norm runs a power iteration inside every
forward; ganforge's parametrization is given the vectors after that iteration and run in eval
mode, which computes the same sigma: `ganforge.nn.spectral`), and the authors' whole test-time
translation (`InstaGANModel.test`, sequential mini-batches, ins_per 2, ins_max 20) against
ganforge's `InstaTranslator`, at batch 1 (the authors' per-GPU batch).

demo: the built-in digit-instances demo (3s -> 8s on canvases) trained with InstaGAN's default
demo run and with CycleGAN's demo networks (the images alone) for the same steps, then both judged by the same evaluation
(context preservation outside the masks, instance accuracy with the shipped digits classifier,
FID/KID in its features), with the classifier's reading of real test canvases for reference.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from _report import provenance, write_result
from ganforge.api import make_config, train
from ganforge.models import count_parameters
from ganforge.models.instagan import InstaTranslator
from ganforge.nn.spectral import vectors_after_one_iteration
from ganforge.training.run_dir import read_metrics
from ganforge.translation.models import build_model


def _reference(repo: Path) -> tuple[Any, Any]:
    sys.path.insert(0, str(repo))
    networks = importlib.import_module("models.networks")
    model = importlib.import_module("models.insta_gan_model")
    return networks, model


def _copy_generator(official: nn.Module, ours: nn.Module) -> None:
    theirs = list(official.parameters())
    mine = list(ours.parameters())
    assert [t.shape for t in theirs] == [m.shape for m in mine], "generator layouts differ"
    with torch.no_grad():
        for t, m in zip(theirs, mine, strict=True):
            m.copy_(t)


def _copy_discriminator(official: nn.Module, ours: nn.Module, networks: Any) -> None:
    theirs = [m for m in official.modules() if isinstance(m, networks.SpectralNorm)]
    mine = [m for m in ours.modules() if isinstance(m, nn.Conv2d)]
    assert len(theirs) == len(mine), "discriminator layouts differ"
    with torch.no_grad():
        for t, m in zip(theirs, mine, strict=True):
            w, u = t.module.weight_bar, t.module.weight_u
            m.parametrizations.weight.original.copy_(w)
            m.bias.copy_(t.module.bias)
            u_next, v = vectors_after_one_iteration(w, u, 1e-12)
            sn = m.parametrizations.weight[0]
            sn._u.copy_(u_next)
            sn._v.copy_(v)


def _masks(n: int, k: int, side: int, empty: tuple[int, ...], seed: int) -> torch.Tensor:
    """k rectangles of distinct sizes per image in [-1, 1], the `empty` slots all -1."""
    gen = torch.Generator().manual_seed(seed)
    masks = -torch.ones(n, k, side, side)
    for i in range(n):
        for j in range(k):
            if j in empty:
                continue
            h = side // 4 + 2 * j + int(torch.randint(0, 3, (), generator=gen))
            top, left = (int(torch.randint(0, side - h, (), generator=gen)) for _ in range(2))
            masks[i, j, top : top + h, left : left + h] = 1.0
    return masks


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def parity(repo: Path, side: int, commit: str = "") -> dict:
    networks, model_module = _reference(repo)
    torch.manual_seed(0)
    g_ref = networks.define_G(3, 3, 64, "set", "instance", False, "normal", 0.02, [])
    d_ref = networks.define_D(3, 64, "set", 3, "instance", False, "normal", 0.02, [])
    config = make_config("instagan", ["demo_overrides=[]"], data="instances:unused")
    ours = build_model(config, "cpu").networks

    def counts(net: nn.Module) -> dict[str, int]:
        return {"all": sum(p.numel() for p in net.parameters()),
                "trainable": sum(p.numel() for p in net.parameters() if p.requires_grad)}

    sn_vectors = sum(b.numel() for n, b in ours["D_A"].named_buffers() if n.endswith(("_u", "_v")))
    rows: dict[str, Any] = {
        "G": {"official": counts(g_ref), "ganforge": count_parameters(ours["G_AB"])},
        "D": {"official": counts(d_ref), "ganforge": count_parameters(ours["D_A"]),
              "ganforge_with_sn_vectors": count_parameters(ours["D_A"]) + sn_vectors},
    }
    rows["G"]["equal"] = rows["G"]["official"]["all"] == rows["G"]["ganforge"]
    rows["D"]["equal"] = (rows["D"]["official"]["trainable"] == rows["D"]["ganforge"]
                          and rows["D"]["official"]["all"] == rows["D"]["ganforge_with_sn_vectors"])

    # one generator pass and the discriminator, batch 1
    g, d = ours["G_AB"], ours["D_A"]
    _copy_generator(g_ref, g)
    _copy_discriminator(d_ref, d, networks)
    image = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(1)) * 2 - 1
    x = torch.cat([image, _masks(1, 3, side, (2,), 2)], 1)
    with torch.no_grad():
        g_ref.eval(), g.eval()
        out_ref, out = g_ref(x), g(x)
        d_ref.train(), d.eval()  # theirs iterates in every forward; ours holds that iteration
        one_mask = torch.cat([image, _masks(1, 2, side, (1,), 6)], 1)
        d_out_ref, d_out = d_ref(one_mask), d(one_mask)
    rows["G"]["output_max_abs_diff"] = _max_diff(out_ref, out)
    rows["D"]["output_max_abs_diff"] = _max_diff(d_out_ref, d_out)
    rows["D"]["output_note"] = (
        "one present mask: the authors' D calls its spectral-normed mask extractor once per mask, "
        "and each call runs another power iteration, so with several masks their masks see "
        "different sigmas (a difference that vanishes as the iteration converges in training); "
        "ganforge's runs all masks in one batch, one iteration per D call")

    # the authors' test-time sequential translation, 5 instances, ins_per 2, ins_max 20
    opt = SimpleNamespace(
        isTrain=False, gpu_ids=[], checkpoints_dir=tempfile.mkdtemp(), name="parity",
        resize_or_crop="resize_and_crop", input_nc=3, output_nc=3, ngf=64, ndf=64, netG="set",
        netD="set", n_layers_D=3, norm="instance", no_dropout=True, init_type="normal",
        init_gain=0.02, set_order="decreasing", ins_max=20, ins_per=2, direction="AtoB")
    ref = model_module.InstaGANModel()
    ref.initialize(opt)
    translator = InstaTranslator(3, 3, 9, 64, "instance", False)
    translator.per_pass = 2
    _copy_generator(ref.netG_A, translator)
    segs = _masks(1, 20, side, tuple(range(5, 20)), 3)
    b_img = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(4)) * 2 - 1
    ref.set_input({"A": image, "B": b_img, "A_segs": segs, "B_segs": _masks(1, 20, side, tuple(range(1, 20)), 5),
                   "A_paths": ["a"], "B_paths": ["b"]})
    ref.test()
    with torch.no_grad():
        translator.eval()
        ours_out = translator(torch.cat([image, segs], 1))
    # theirs returns the masks largest first; ours in the input order: compare the same slots
    order = segs.mean((2, 3)).argsort(dim=1, descending=True, stable=True)[0]
    ours_masks = ours_out[:, 3:][:, order]
    rows["sequential_translation"] = {
        "settings": "batch 1, 5 instances of 20 slots, ins_per 2, ins_max 20 (the authors' test command)",
        "image_max_abs_diff": _max_diff(ref.fake_B_img, ours_out[:, :3]),
        "masks_max_abs_diff": _max_diff(ref.fake_B_seg_mul, ours_masks[:, : ref.fake_B_seg_mul.shape[1]]),
    }
    commit = commit or subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                                      text=True).stdout.strip() or "not a git checkout"
    return {"benchmark": "instagan_parity", "provenance": provenance(), "reference_checkout": str(repo),
            "reference_commit": commit, "side": side, "networks": rows}


def demo(out_dir: Path) -> dict:
    """InstaGAN's default demo run, and CycleGAN's demo networks on the same data, steps and
    schedule (no mirroring for either: mirrored digits are other shapes), one evaluation."""
    results: dict[str, Any] = {}
    instagan = make_config("instagan")
    tc = instagan.translation
    same = [f"translation.epochs={tc.epochs}", f"translation.epochs_decay={tc.epochs_decay}",
            f"translation.steps_per_epoch={tc.steps_per_epoch}",
            f"translation.eval_every={tc.eval_every}", "data.hflip=false"]
    for recipe, overrides in (("instagan", []), ("cyclegan", same)):
        run = out_dir / f"digit_instances_{recipe}"
        config = make_config(recipe, overrides, data="demo:digit-instances")
        start, cpu = time.perf_counter(), time.process_time()
        train(config, out=run, overwrite=True, progress=False)
        wall, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        evaluation = json.loads((run / "evaluation.json").read_text())
        steps = max(r["step"] for r in read_metrics(run) if r["kind"] == "train")
        command = f"ganforge train --recipe {recipe}" + (
            " --data demo:digit-instances " + " ".join(overrides) if overrides else "")
        results[recipe] = {"command": command, "steps": steps, "wall_seconds": round(wall, 1),
                           "cpu_seconds": round(cpu_s, 1), "steps_per_s": round(steps / wall, 3),
                           "metrics": evaluation["metrics"], "run_dir": str(run)}
    return {"benchmark": "instagan_demo", "provenance": provenance(), "runs": results,
            "speed_ratio_instagan_over_cyclegan_steps_per_s": round(
                results["instagan"]["steps_per_s"] / results["cyclegan"]["steps_per_s"], 3),
            "reference": reference()}


def _loop(recipe: str, overrides: list[str], data: Any) -> Any:
    from ganforge.training.launch import make_loop
    from ganforge.training.run_dir import RunDir

    config = make_config(recipe, [*overrides, "translation.features=none", "train.device=cpu"],
                         data="demo:digit-instances")
    return make_loop(config, data, RunDir(Path("/nonexistent")))


def speed(rounds: int, steps: int, paper: bool) -> dict:
    """Training steps per second of InstaGAN and CycleGAN, alternating blocks of `steps` steps
    in one process (so both see the same machine load); the demo networks on the demo data, or
    (`paper`) the paper networks (ResNet-9, ngf 64, RGB) on 128 px synthetic canvases with the
    demo's instance masks, batch 1."""
    from ganforge.translation.data import load_translation_data

    overrides = {"instagan": [], "cyclegan": ["data.hflip=false"]}
    if paper:
        common = ["demo_overrides=[]", "translation.load_size=128", "translation.crop_size=128",
                  "train.batch_size=1", "translation.channels_a=1", "translation.channels_b=1"]
        overrides = {"instagan": common, "cyclegan": common}
    config = make_config("instagan", overrides["instagan"], data="demo:digit-instances")
    data = load_translation_data("demo:digit-instances", config.translation)
    loops = {r: _loop(r, overrides[r], data) for r in ("instagan", "cyclegan")}
    seconds = {r: 0.0 for r in loops}
    done = {r: 0 for r in loops}
    for r, loop in loops.items():  # warm-up
        loop.task.train_step(1)
        done[r] = 1
    for _ in range(rounds):
        for r, loop in loops.items():
            start = time.perf_counter()
            for _ in range(steps):
                done[r] += 1
                loop.task.train_step(done[r])
            seconds[r] += time.perf_counter() - start
    batch = config.train.batch_size
    rows = {r: {"steps_timed": rounds * steps, "seconds": round(seconds[r], 2),
                "steps_per_s": round(rounds * steps / seconds[r], 3),
                "images_per_s": round(rounds * steps * batch / seconds[r], 3),
                "parameters": {k: count_parameters(v) for k, v in loops[r].task.model.networks.items()}}
            for r in loops}
    return {"benchmark": "instagan_speed", "provenance": provenance(),
            "settings": "paper networks, 128 px grey, batch 1" if paper else "the demo networks, 32 px grey, batch 4",
            "step_definition": "InstaGAN: one G and one D update per pass (1-2 passes: up to 3 digits, 2 per "
            "pass); CycleGAN: one G and one D update", "runs": rows,
            "instagan_over_cyclegan_time_per_step": round(
                rows["cyclegan"]["steps_per_s"] / rows["instagan"]["steps_per_s"], 2)}


def reference() -> dict:
    """The instance accuracy and FID the evaluation reads on real test canvases."""
    from ganforge.metrics.translation_instances import class_share, instance_crops
    from ganforge.translation.data import load_translation_data

    config = make_config("instagan", data="demo:digit-instances")
    data = load_translation_data("demo:digit-instances", config.translation)
    out = {}
    for name, packed, digit, other in (("A", data.test_a, 3, 8), ("B", data.test_b, 8, 3)):
        unit = packed.float() / 127.5 - 1
        crops = instance_crops(unit[:, :1], unit[:, 1:])
        out[f"real_{name}_read_as_its_digit"] = class_share(crops, digit)
        out[f"real_{name}_read_as_the_other_domain_digit"] = class_share(crops, other)
        out[f"instances_{name}"] = len(crops)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("parity")
    p.add_argument("--repo", type=Path, required=True)
    p.add_argument("--side", type=int, default=64)
    p.add_argument("--commit", default="", help="the checkout's commit, when it is not a git checkout")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("demo")
    p.add_argument("--runs", type=Path, default=Path(tempfile.gettempdir()) / "instagan_demo")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("speed")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--paper", action="store_true")
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.what == "parity":
        result = parity(args.repo, args.side, args.commit)
    elif args.what == "demo":
        result = demo(args.runs)
    else:
        result = speed(args.rounds, args.steps, args.paper)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
