"""Text-to-image evaluation: R-precision and CLIP score on hand-made embeddings (closed forms),
the text metrics' refusals, and a text run through `ganforge eval` and the in-training
evaluation (FID/KID, R-precision, caption accuracy; CLIP score missing with its reason)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.metrics.features import Features
from ganforge.metrics.registry import MetricInputs, Unavailable
from ganforge.metrics.text import clip_score, r_precision_from_embeddings
from ganforge.metrics.text_metrics import TextInputs, caption_acc, clip_score_metric, rprec

TINY = ["model.ch=4", "text.width=16", "text.embed_dim=16", "text.heads=2", "text.pretrain_steps=2",
        "text.pretrain_batch=8", "train.batch_size=4", "train.log_every=1", "train.sample_every=1000",
        "train.checkpoint_every=1000", "monitor.plot=false", "train.device=cpu"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_r_precision_counts_the_images_whose_own_caption_ranks_first() -> None:
    n = 120
    texts = [f"caption {i}" for i in range(n)]
    text_emb = torch.eye(n)
    image_emb = torch.eye(n)
    image_emb[60:] *= -1  # the second half points away from its caption: every other scores higher
    assert r_precision_from_embeddings(image_emb, text_emb, texts) == 0.5
    assert r_precision_from_embeddings(torch.eye(n), text_emb, texts) == 1.0
    # ties lose: an image equally close to every caption retrieves none
    assert r_precision_from_embeddings(torch.ones(n, n), torch.ones(n, n), texts) == 0.0


def test_r_precision_never_draws_a_candidate_with_the_same_text() -> None:
    # image 0's caption appears again in row 1 with an embedding closer to image 0 than row 0's:
    # image 0 hits only because a row of the same text is never a candidate; every other image
    # is equally far from all captions (ties lose), so R-precision is exactly 1 / 101
    texts = ["same", "same"] + [f"other {i}" for i in range(99)]
    text_emb = torch.tensor([[1.0, 1.0], [1.0, 0.0]] + [[0.0, 1.0]] * 99)
    image_emb = torch.tensor([[1.0, 0.0]] + [[-1.0, 0.0]] * 100)
    for seed in range(3):
        assert r_precision_from_embeddings(image_emb, text_emb, texts, seed) == 1 / 101
    with pytest.raises(GanforgeError, match="at least 100 distinct captions"):
        r_precision_from_embeddings(torch.eye(99), torch.eye(99), [str(i) for i in range(99)])


def test_clip_score_is_100_times_the_clamped_cosine() -> None:
    image = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    text = torch.tensor([[1.0, 1.0], [-1.0, 0.0], [0.0, 2.0]])
    assert clip_score(image, text) == pytest.approx((100 / 2**0.5 + 0 + 100) / 3, rel=1e-6)


def _inputs(text: TextInputs | None) -> MetricInputs:
    empty = Features(np.zeros((2, 4)), None)
    return MetricInputs(empty, empty, None, None, None, 0, 0, text=text)


def test_text_metrics_say_why_they_cannot_be_computed() -> None:
    for metric in (rprec, caption_acc, clip_score_metric):
        with pytest.raises(Unavailable, match="not a text-to-image generator"):
            metric(_inputs(None))
    text = TextInputs(torch.zeros(2, 3, 8, 8), ["a red two"] * 2, torch.ones(2, 4, dtype=torch.long),
                      None, "captions:/somewhere")
    with pytest.raises(Unavailable, match="reads the attributes of the 'captioned-digits' demo"):
        caption_acc(_inputs(text))
    with pytest.raises(Unavailable, match="no CLIP weights given"):
        clip_score_metric(_inputs(text))
    with pytest.raises(Unavailable, match="needs a joint embedding"):
        rprec(_inputs(text))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("text-eval") / "run"
    overrides = [*TINY, "eval.every=1", "eval.n=150", "eval.metrics=[fid,rprec,caption_acc,clip_score]"]
    assert main(["train", "--recipe", "gan-cls", "--out", str(out), "--steps", "1", "--no-progress",
                 *overrides]) == 0
    return out


def test_text_run_is_evaluated_during_training(run: Path) -> None:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert len(evals) == 1
    row = evals[0]
    assert row["fid"] > 0 and 0 <= row["r_precision"] <= 1
    assert {"caption_all_acc", "caption_digit_acc", "caption_colour_acc"} <= set(row)
    assert "clip_score" not in row  # no CLIP: missing, never guessed


def test_ganforge_eval_on_a_text_run_equals_its_in_training_evaluation(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = api.evaluate(run, n=150)  # the default metrics become the text ones
    assert set(result["metrics"]) == {"fid", "kid", "r_precision", "caption"}
    assert "no CLIP weights given" in result["missing"]["clip_score"]
    assert result["protocol"]["features"]["name"] == "digits"
    assert "captions drawn uniformly" in result["protocol"]["subset"]
    logged = next(json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                  if json.loads(line)["kind"] == "eval")
    assert result["metrics"]["r_precision"] == logged["r_precision"]  # the same G_ema, seed and n
    assert result["metrics"]["caption"]["all_acc"] == logged["caption_all_acc"]
    assert result["metrics"]["fid"] == pytest.approx(logged["fid"], rel=1e-9)
    assert main(["eval", str(run), "--data", "digits", "--n", "150"]) == 2  # no captions: one line
    assert "has no captions" in capsys.readouterr().err
