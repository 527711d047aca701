"""`ganforge serve` for a text-to-image run: the text box page is the front page, GET
/api/text_sample draws one row per sentence (the same images as `sample_text`), and unknown
words, missing or too many sentences and class-only generators are one-line JSON errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'ganforge[serve]'")

from fastapi.testclient import TestClient  # noqa: E402

from ganforge import api  # noqa: E402
from ganforge.generator import Generator  # noqa: E402
from ganforge.models import build_models  # noqa: E402
from ganforge.sampling import make_grid  # noqa: E402
from ganforge.serve import Limits, create_app  # noqa: E402

TINY = ["model.ch=4", "text.width=16", "text.embed_dim=16", "text.heads=2", "text.pretrain_steps=1",
        "text.pretrain_batch=8", "train.batch_size=4", "monitor.plot=false", "train.device=cpu"]
LIMITS = Limits(max_n=8, max_steps=8)


VOCAB = "[a,blue,center,in,large,left,one,red,seven,small,the,top,two]"  # the tests' sentences


@pytest.fixture(scope="module")
def text_generator() -> Generator:
    torch.manual_seed(0)  # random weights are enough to see the page and the API work
    config = api.make_config("gan-cls", [*TINY, f"text.vocab={VOCAB}"])
    return Generator(build_models(config.model, config.text)[0], [str(i) for i in range(10)], config=config)


@pytest.fixture(scope="module")
def client(text_generator: Generator) -> TestClient:
    return TestClient(create_app(text_generator, LIMITS))


def test_front_page_is_the_text_box(client: TestClient) -> None:
    for path in ("/", "/text"):
        page = client.get(path)
        assert page.status_code == 200 and 'id="texts"' in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
    assert client.get("/api/info").json()["takes_text"] is True


def test_text_sample_draws_one_row_per_sentence(client: TestClient, text_generator: Generator) -> None:
    sentences = ["a small red seven in the top left", "a large blue two in the center"]
    response = client.get("/api/text_sample", params={"text": sentences, "n": 3, "seed": 5})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    expected = make_grid(text_generator.sample_text(sentences, 3, seed=5), 3)
    assert np.array_equal(image, expected)  # the same images as sample_text, rows by sentence
    download = client.get("/api/text_sample", params={"text": sentences[:1], "download": 1})
    assert download.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize(("params", "words"), [
    ({"text": "a purple seven"}, "unknown word 'purple'"),
    ({}, "text is required"),
    ({"text": ["a red one"] * 9}, "at most 8 sentences"),
    ({"text": ["a red one"] * 2, "n": 5}, "n must be from 1 to 4"),
    ({"text": "a red one", "class": "3"}, "unknown parameter 'class'"),
])
def test_bad_text_requests_are_one_line_errors(client: TestClient, params: dict, words: str) -> None:
    response = client.get("/api/text_sample", params=params)
    assert response.status_code == 400
    message = response.json()["error"]
    assert words in message and "\n" not in message


def test_class_generators_have_no_text_page() -> None:
    config = api.make_config("dcgan", ["model.ch=4", "train.device=cpu"])
    g = Generator(build_models(config.model)[0], [str(i) for i in range(10)], config=config)
    client = TestClient(create_app(g, LIMITS))
    response = client.get("/api/text_sample", params={"text": "a red one"})
    assert response.status_code == 404 and "no such page" in response.json()["error"]
    assert client.get("/api/info").json()["takes_text"] is False
    assert 'id="texts"' not in client.get("/").text
