"""CLIP with GigaGAN, against a tiny randomly initialised CLIP saved by the test (needs
`transformers`, the `hf` extra): the CLIP contrastive loss's closed form and its share of G's
loss, 2 training steps with it, the CLIP score and CLIP R-precision through `ganforge eval`, and
the refusals (missing folder, text tower only, unreadable weights)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from clip_support import tiny_clip  # noqa: E402
from ganforge import api  # noqa: E402
from ganforge.cli import main  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.text.clip import ClipJudge  # noqa: E402
from ganforge.training.launch import load_task_data, make_loop  # noqa: E402
from ganforge.training.methods.gigagan import clip_contrastive_loss  # noqa: E402
from ganforge.training.run_dir import RunDir  # noqa: E402

TINY = ["model.ch=8", "model.style_dim=16", "model.heads=2", "model.n_kernels=2", "model.resolution=16",
        "model.attn_resolutions=[8]", "text.max_len=24", "train.batch_size=4", "train.log_every=1",
        "train.sample_every=1000", "train.checkpoint_every=1000", "monitor.plot=false", "train.device=cpu"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def test_clip_loss_is_cross_entropy_over_the_batch_captions() -> None:
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    s = 10.0
    loss = clip_contrastive_loss(image, text, s)
    # row i: -log softmax(s * <image_i, text_n>)_i, averaged
    rows = [s * 1 - math.log(math.exp(s) + 2), s * 1 - math.log(2 * math.exp(s) + 1),
            s * 0.8 - math.log(math.exp(6) + 2 * math.exp(8))]
    assert loss.item() == pytest.approx(-sum(rows) / 3, rel=1e-6)


def test_g_loss_adds_clip_weight_times_the_clip_loss(clip_dir: Path, tmp_path: Path) -> None:
    config, data = load_task_data(api.make_config("gigagan", [*TINY, f"text.encoder=clip:{clip_dir}",
                                                              "method.clip_weight=0.5"]))
    task = make_loop(config, data, RunDir(tmp_path)).task
    method = task.method
    assert method.monitor()["clip_loss_on"] == 1.0
    states = (task.stream.state_dict(), task.noise_gen.get_state(), task.label_gen.get_state())
    with_clip, extra = method.g_loss(4)
    task.stream.load_state_dict(states[0])
    task.noise_gen.set_state(states[1])
    task.label_gen.set_state(states[2])
    method.clip = None
    without, none = method.g_loss(4)
    assert none == {} and extra["clip_loss"] > 0
    assert with_clip.item() == pytest.approx(without.item() + 0.5 * extra["clip_loss"].item(), rel=1e-5)


def test_gigagan_trains_with_clip_and_eval_scores_with_it(clip_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--recipe", "gigagan", "--out", str(run), "--steps", "2", "--no-progress", *TINY,
                 f"text.encoder=clip:{clip_dir}", "method.clip_weight=0.5"]) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    assert len(train) == 2 and all(r["clip_loss_on"] == 1.0 and r["clip_loss"] > 0 for r in train)
    result = api.evaluate(run, "clip_score,rprec,caption_acc", n=150)
    assert 0 <= result["metrics"]["clip_score"] <= 100 and result["missing"] == {}
    assert result["protocol"]["r_precision_embedding"].startswith("CLIP")  # no image tower of its own
    # the builtin-encoder path logs the loss as off
    config, data = load_task_data(api.make_config("gigagan", [*TINY, "text.width=16", "text.embed_dim=16",
                                                              "text.heads=2", "text.pretrain_steps=1"]))
    assert make_loop(config, data, RunDir(tmp_path / "off")).task.method.monitor()["clip_loss_on"] == 0.0


def test_clip_refusals_are_one_line(clip_dir: Path, tmp_path: Path) -> None:
    text_only = tiny_clip(tmp_path / "text-only", text_only=True)
    with pytest.raises(GanforgeError, match="CLIP text tower only"):
        api.validate_config(api.make_config("gigagan", [*TINY, f"text.encoder=clip:{text_only}",
                                                        "method.clip_weight=0.1"]))
    with pytest.raises(GanforgeError, match="is not a folder"):
        api.validate_config(api.make_config("gigagan", [*TINY, f"text.encoder=clip:{tmp_path / 'none'}",
                                                        "method.clip_weight=0.1"]))
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in clip_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(GanforgeError, match="cannot load the CLIP model"):
        ClipJudge(broken)
