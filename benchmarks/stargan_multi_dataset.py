"""StarGAN on two datasets with different label sets (the mask vector, the paper's section 3.2):
`ganforge train --recipe stargan --data demo:digit-strokes+demo:digit-colours`, then every test
digit asked for every label of each dataset, within its own dataset and across.

The demo's datasets are halves of the digit demo (all three attributes drawn at random), the first
labelled only with thick/inverted, the second only with red; the shipped attribute classifier
reads all three, and the demo knows each test digit's true attributes. For a test digit x and a
target (dataset j, a label of j's attributes) the expected reading is: j's attributes as the
label says, the other attributes as x truly has them. Reported separately for x of dataset j
(within: what each dataset alone could train) and x of the other dataset (across: the edit only
the mask vector makes possible, e.g. a stroke-labelled digit turned red): `target_accuracy` over
j's attributes, `kept_accuracy` over the others, and the same for the untranslated inputs.

    PYTHONPATH=src:benchmarks OMP_NUM_THREADS=1 python benchmarks/stargan_multi_dataset.py \
        --steps 1500 --out benchmarks/results/stargan_multi_dataset.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _report import provenance, write_result
from ganforge.api import load, make_config, train
from ganforge.metrics.features import extract, get_extractor
from ganforge.translation import demos
from ganforge.translation.attribute_sets import dataset_of, with_mask
from ganforge.translation.inference import run_generator

DATA = "demo:digit-strokes+demo:digit-colours"
SETS = (2, 1)  # thick, inverted | red


def read(judge: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    columns = [list(judge.class_names).index(a) for a in demos.ATTRIBUTES]
    return torch.as_tensor(np.asarray(extract(judge, images.split(500)).logits))[:, columns] > 0


def score(g: torch.nn.Module, test: torch.Tensor, labels: torch.Tensor, truth: torch.Tensor,
          judge: torch.nn.Module) -> dict[str, dict[str, float]]:
    owner = dataset_of(labels, SETS)
    sums: dict[str, dict[str, list[float]]] = {}
    start = 0
    for j, k in enumerate(SETS):
        for combo in itertools.product((0.0, 1.0), repeat=k):
            label = with_mask(torch.tensor([combo]), j, SETS).expand(len(test), -1)
            expected = truth.clone().bool()
            expected[:, start : start + k] = torch.tensor(combo).bool()
            ours = slice(start, start + k)
            kept = [c for c in range(sum(SETS)) if not start <= c < start + k]
            for name, images in (("stargan", run_generator(g, test, "running_stats", 0, label)),
                                 ("identity", test)):
                hits = read(judge, images) == expected
                for where, rows in (("within", owner == j), ("across", owner != j)):
                    row = sums.setdefault(f"{name}_{where}", {"target_accuracy": [], "kept_accuracy": []})
                    row["target_accuracy"].append(float(hits[rows][:, ours].float().mean()))
                    row["kept_accuracy"].append(float(hits[rows][:, kept].float().mean()))
        start += k
    return {key: {m: round(float(np.mean(v)), 4) for m, v in row.items()} for key, row in sums.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = (args.work or Path(tempfile.mkdtemp())) / "stargan_two_datasets"
    per_epoch = max(1, args.steps // 3)  # the demo's shape: 2 epochs constant, 1 decaying
    overrides = [f"translation.steps_per_epoch={per_epoch}", "translation.eval_every=0",
                 f"train.sample_every={3 * per_epoch}", f"train.checkpoint_every={3 * per_epoch}"]
    start, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    train(make_config("stargan", overrides, data=DATA), out=run, overwrite=True, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF)
    g = load(run)
    from ganforge.translation.data import load_translation_data

    data = load_translation_data(DATA, g.config.translation)
    _, test_idx = demos.split()
    truth = demos.random_attributes(1797)[test_idx]
    result = {
        "benchmark": "stargan_multi_dataset", "provenance": provenance(),
        "command": " ".join(["ganforge train --recipe stargan --data", DATA, *overrides]),
        "steps": 3 * per_epoch, "g_updates": 3 * per_epoch // (2 * 5) * 2,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 1),
        "attribute_sets": list(g.config.translation.attribute_sets),
        "evaluation": json.loads((run / "evaluation.json").read_text())["metrics"],
        "targets": score(g.network("AtoB"), data.test_a, data.test_attrs, truth,  # the datasets' halves, in order
                         get_extractor("digit_attributes")),
        "run_dir": str(run),
    }
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
