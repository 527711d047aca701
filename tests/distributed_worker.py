"""Run by tests/test_distributed.py, alone or under torchrun: train a few steps, then every
rank saves what it holds (G, D, G_ema with buffers) so that the test can compare ranks and
world sizes. `--bn` instead checks cross-replica BN against full-batch BN on fixed tensors.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from ganforge import api
from ganforge.config import save_config
from ganforge.data.spec import load_training_data
from ganforge.nn.cross_replica_bn import cross_replica_batch_norm
from ganforge.training import distributed
from ganforge.training.launch import make_loop, prepare_run_dir
from ganforge.training.run_dir import RunDir


def train(args: argparse.Namespace) -> None:
    config = api.make_config(recipe=args.recipe, overrides=args.overrides)
    ctx, _ = distributed.setup(config.train.device)
    dataset = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    config = replace(config, model=replace(config.model, n_classes=dataset.n_classes))
    run = RunDir(args.out / "run")
    trainer = make_loop(config, dataset, run)
    if ctx.is_main:
        prepare_run_dir(run.root, overwrite=True)
        save_config(config, run.config)
        run.write_classes(dataset.class_names, dataset.source)
    distributed.barrier()
    trainer.fit(config.train.steps, progress=False)
    torch.save({"G": trainer.task.G.state_dict(), "D": trainer.task.D.state_dict(),
                "G_ema": trainer.task.G_ema.state_dict(), "world": ctx.world},
               args.out / f"rank{ctx.rank}.pt")


def batch_norm(args: argparse.Namespace) -> None:
    """Each rank normalises its share of one fixed batch; the whole batch with plain BN is the
    reference. The loss sum(out * W) is not BN-invariant, so gradients test the all-reduce's
    backward too."""
    ctx, _ = distributed.setup("cpu")
    x = torch.randn(8, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 3 + 1
    w = torch.randn(8, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    mine = slice(ctx.rank * 8 // ctx.world, (ctx.rank + 1) * 8 // ctx.world)
    bn, ref_bn = torch.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        for m in (bn, ref_bn):
            m.weight.copy_(torch.tensor([1.5, 0.5, 2.0]))
            m.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    local = x[mine].clone().requires_grad_(True)
    out = cross_replica_batch_norm(local, bn)
    (out * w[mine]).sum().backward()
    full = x.clone().requires_grad_(True)
    ref = ref_bn(full)
    (ref * w).sum().backward()
    torch.save({"out": out.detach(), "ref": ref[mine].detach(),
                "running": torch.stack([bn.running_mean, bn.running_var]),
                "ref_running": torch.stack([ref_bn.running_mean, ref_bn.running_var]),
                "grad_input": local.grad, "ref_grad_input": full.grad[mine],
                "grad_weight": bn.weight.grad, "ref_grad_weight": ref_bn.weight.grad},
               args.out / f"bn{ctx.rank}.pt")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--recipe", default="biggan-digits")
    parser.add_argument("--bn", action="store_true")
    parser.add_argument("overrides", nargs="*")
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    (batch_norm if arguments.bn else train)(arguments)
    distributed.teardown()
