"""`ganforge serve`: the API through FastAPI's TestClient, a live uvicorn server under concurrent
and bad requests, and the page itself driven in Debian's headless Chromium by Playwright."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'ganforge[serve]'")
pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install 'ganforge[serve]'")

from fastapi.testclient import TestClient  # noqa: E402

from ganforge.config import load_recipe  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.generators import PretrainedGenerator  # noqa: E402
from ganforge.models import build_models  # noqa: E402
from ganforge.serve import Limits, build_server, create_app, run_server  # noqa: E402
from ganforge.serve.server import bind_socket  # noqa: E402

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
LIMITS = Limits(max_n=16, max_steps=8)
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium as root on a machine without a network: these flags keep it quiet and offline
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tile(n: int, size: int = 32, padding: int = 2) -> int:
    """Width of a grid row of n tiles (make_grid's white padding)."""
    return n * (size + padding) + padding


def decode(data: bytes) -> np.ndarray:
    assert data.startswith(PNG_SIGNATURE)
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.fixture(scope="module")
def generator() -> PretrainedGenerator:
    torch.manual_seed(0)  # random weights are enough to see the page and the API work
    cfg = load_recipe("biggan-digits")
    g, _ = build_models(cfg.model)
    return PretrainedGenerator(g, list(NAMES), config=cfg)


@pytest.fixture(scope="module")
def client(generator: PretrainedGenerator) -> TestClient:
    return TestClient(create_app(generator, LIMITS))


@pytest.fixture(scope="module")
def live_url(generator: PretrainedGenerator) -> Iterator[str]:
    """The real server (uvicorn, sockets, thread pool) on a free port, from a thread."""
    server, sock = build_server(generator, "127.0.0.1", 0, LIMITS)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# ---- API ------------------------------------------------------------------------------------------
def test_info_describes_the_generator(client: TestClient) -> None:
    info = client.get("/api/info").json()
    assert info["classes"] == NAMES and info["n_classes"] == 10 and info["resolution"] == 32
    assert info["truncation"] == {"min": 0.05, "max": 2.0, "none_allowed": True, "default": 1.0}
    assert info["limits"] == {"max_n": 16, "max_steps": 8, "max_seed": 2**31 - 1,
                              "max_request_bytes": 4096}
    assert info["mixes_classes"] is True


def test_page_is_self_contained(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "http://" not in response.text and "https://" not in response.text
    assert client.get("/docs").status_code == 404  # FastAPI's docs would load from a CDN


def test_sample_is_a_png_grid_of_the_right_size(client: TestClient) -> None:
    response = client.get("/api/sample", params={"class": "3", "n": 3, "seed": 5})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'inline; filename="ganforge-sample-c3-s5.png"'
    assert decode(response.content).shape == (tile(1), tile(3))  # grey digits: one channel
    many = client.get("/api/sample", params={"class": "3", "n": 16, "download": 1})
    assert decode(many.content).shape == (tile(2), tile(8))
    assert many.headers["content-disposition"].startswith("attachment;")


def test_same_request_same_bytes_and_inputs_change_the_image(client: TestClient) -> None:
    def png(**params: object) -> bytes:
        response = client.get("/api/sample", params={"n": 4, "seed": 1, **params})
        assert response.status_code == 200, response.text
        return response.content

    base = png(**{"class": "seven", "truncation": 0.8})
    assert png(**{"class": "seven", "truncation": 0.8}) == base
    assert png(**{"class": "SEVEN", "truncation": "0.80"}) == base  # names are case-insensitive
    assert png(**{"class": 7, "truncation": 0.8}) == base  # an id is the same class
    for changed in ({"class": "two", "truncation": 0.8}, {"class": "seven", "truncation": 0.3},
                    {"class": "seven", "truncation": "none"}, {"class": "seven", "seed": 2}):
        assert png(**{"truncation": 0.8, **changed}) != base, changed


# (path, status, words the one-line message must contain)
BAD_REQUESTS = [
    ("/api/sample?class=zebra", 400, "unknown class 'zebra'"),
    ("/api/sample?class=10", 400, "out of range"),
    ("/api/sample?class=-1", 400, "out of range"),
    ("/api/sample", 400, "class is required"),
    ("/api/sample?class=1&truncation=0", 400, "truncation must be from 0.05 to 2"),
    ("/api/sample?class=1&truncation=-0.5", 400, "truncation must be from 0.05 to 2"),
    ("/api/sample?class=1&truncation=2.5", 400, "truncation must be from 0.05 to 2"),
    ("/api/sample?class=1&truncation=nan", 400, "truncation must be a number"),
    ("/api/sample?class=1&truncation=abc", 400, "truncation must be a number"),
    ("/api/sample?class=1&n=17", 400, "n must be from 1 to 16"),
    ("/api/sample?class=1&n=0", 400, "n must be from 1 to 16"),
    ("/api/sample?class=1&n=2.5", 400, "n must be a whole number"),
    ("/api/sample?class=1&seed=abc", 400, "seed must be a whole number"),
    ("/api/sample?class=1&seed=-1", 400, "seed must be from 0 to 2147483647"),
    ("/api/sample?class=1&seed=2147483648", 400, "seed must be from 0 to 2147483647"),
    ("/api/sample?class=1&seed=" + "9" * 400, 400, "seed must be from 0"),
    ("/api/sample?class=1&seed=1&seed=2", 400, "more than once"),
    ("/api/sample?class=1&trunc=0.5", 400, "unknown parameter 'trunc'"),
    ("/api/sample?class=1&download=yes", 400, "download must be 0 or 1"),
    ("/api/sample?class=" + "x" * 5000, 413, "over the limit of 4096"),
    ("/api/interpolate?class_a=1&steps=1", 400, "steps must be from 2 to 8"),
    ("/api/interpolate?class_a=1&steps=9", 400, "steps must be from 2 to 8"),
    ("/api/interpolate?class_a=1&mode=sideways", 400, "mode must be one of z, class, both"),
    ("/api/interpolate?class_a=1&mode=class", 400, "class_b is required"),
    ("/api/interpolate?class_a=1&class_b=zebra&mode=both", 400, "class_b: unknown class"),
    ("/api/interpolate?class_a=1&seed_b=x", 400, "seed_b must be a whole number"),
    ("/api/nothing", 404, "no such page"),
]


@pytest.mark.parametrize(("path", "status", "words"), BAD_REQUESTS)
def test_a_bad_request_is_a_one_line_json_error(
    client: TestClient, path: str, status: int, words: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["error"] and words in body["error"] and "\n" not in body["error"]


def test_bodies_and_methods_are_refused_and_the_server_goes_on(client: TestClient) -> None:
    big = client.post("/api/sample", content=b"x" * 10_000)
    assert big.status_code == 413 and "request body" in big.json()["error"]
    post = client.post("/api/sample", content=b"{}")
    assert post.status_code == 405 and "use GET" in post.json()["error"]
    assert client.get("/api/sample", params={"class": "one", "n": 1}).status_code == 200


def test_interpolation_rows_run_from_seed_a_to_seed_b(client: TestClient) -> None:
    params = {"class_a": "seven", "seed_a": 3, "seed_b": 4, "steps": 5, "truncation": 0.7}
    row = decode(client.get("/api/interpolate", params=params).content).astype(int)
    assert row.shape == (tile(1), tile(5))
    ends = [decode(client.get("/api/sample", params={"class": 7, "n": 1, "seed": s,
                                                     "truncation": 0.7}).content).astype(int)
            for s in (3, 4)]
    first, last = row[:, : tile(1)], row[:, tile(4) - 2:]
    assert np.abs(first - ends[0]).max() <= 2 and np.abs(last - ends[1]).max() <= 2
    mixed = client.get("/api/interpolate", params={**params, "mode": "both", "class_b": "two"})
    assert mixed.status_code == 200 and decode(mixed.content).shape == (tile(1), tile(5))
    assert mixed.content != client.get("/api/interpolate", params=params).content


def test_unconditional_generator_needs_no_class() -> None:
    cfg = load_recipe("dcgan")
    g, _ = build_models(cfg.model)
    client = TestClient(create_app(PretrainedGenerator(g, [], config=cfg), LIMITS))
    info = client.get("/api/info").json()
    assert info["n_classes"] == 0 and info["classes"] == [] and info["mixes_classes"] is False
    assert decode(client.get("/api/sample?n=2&seed=1").content).shape == (tile(1), tile(2))
    assert client.get("/api/interpolate?steps=3").status_code == 200
    refused = client.get("/api/sample?class=3")
    assert refused.status_code == 400 and "unconditional" in refused.json()["error"]
    refused = client.get("/api/interpolate?mode=class")
    assert refused.status_code == 400 and "mode z" in refused.json()["error"]


class _TinyDeep(nn.Module):
    """Stands in for BigGAN-deep: takes (z, y, truncation); only the server's checks matter."""

    dim_z, resolution = 8, 8

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, z: torch.Tensor, y: torch.Tensor, truncation: float) -> torch.Tensor:
        return (self.scale * z[:, :3, None, None]).expand(-1, 3, 8, 8).tanh()


def test_biggan_deep_truncation_is_in_0_1_without_none() -> None:
    g = PretrainedGenerator(_TinyDeep(), ["tench, Tinca tinca", "goldfish"], "biggan-deep")
    client = TestClient(create_app(g))
    truncation = client.get("/api/info").json()["truncation"]
    assert truncation == {"min": 0.05, "max": 1.0, "none_allowed": False, "default": 1.0}
    ok = client.get("/api/sample", params={"class": "Tinca tinca", "n": 2, "truncation": 0.5})
    assert ok.status_code == 200 and decode(ok.content).shape == (tile(1, 8), tile(2, 8), 3)
    for bad in ("none", "1.5"):
        response = client.get("/api/sample", params={"class": 0, "truncation": bad})
        assert response.status_code == 400 and "from 0.05 to 1" in response.json()["error"]


def test_limits_and_addresses_are_checked_before_serving() -> None:
    with pytest.raises(GanforgeError, match="unknown server limit 'max_images'"):
        run_server("no/such-run", max_images=3)
    with pytest.raises(GanforgeError, match="max_n must be a positive integer"):
        Limits(max_n=0)
    with pytest.raises(GanforgeError, match="does not exist"):
        run_server(str(Path(tempfile.gettempdir()) / "no-such-ganforge-run"))
    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    try:
        with pytest.raises(GanforgeError, match="cannot listen on 127.0.0.1"):
            bind_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
    with pytest.raises(GanforgeError, match="port must be"):
        bind_socket("127.0.0.1", 70000)


def test_concurrent_good_and_bad_requests_on_a_live_server(
    live_url: str, client: TestClient
) -> None:
    seeds = list(range(12))
    expected = {s: client.get("/api/sample", params={"class": s % 10, "n": 4, "seed": s}).content
                for s in seeds}

    def good(seed: int) -> bytes:
        status, body = get(f"{live_url}/api/sample?class={seed % 10}&n=4&seed={seed}")
        assert status == 200, body
        return body

    def bad(k: int) -> int:
        status, body = get(f"{live_url}/api/sample?class=1&n={100 + k}")
        assert "n must be from 1 to 16" in json.loads(body)["error"]
        return status

    with ThreadPoolExecutor(max_workers=8) as pool:
        goods = list(pool.map(good, seeds * 2))
        bads = list(pool.map(bad, range(8)))
    assert goods == [expected[s] for s in seeds * 2]  # serialized: nobody got another's image
    assert bads == [400] * 8
    assert get(f"{live_url}/api/info")[0] == 200


# ---- the page in a real browser ------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser_page(live_url: str) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    profile = tempfile.mkdtemp(prefix="ganforge-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
                accept_downloads=True)
            context.set_default_timeout(20_000)
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


PIXELS = """() => {
  const img = document.getElementById("image");
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data);
}"""


def test_the_page_in_headless_chromium(
    browser_page: Any, live_url: str, client: TestClient
) -> None:
    page = browser_page
    requests: list[str] = []
    script_errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: script_errors.append(str(e)))

    def rendered(count: int) -> None:
        page.wait_for_selector(f'body[data-generation="{count}"][data-state="ready"]')
        assert page.is_hidden("#error")

    page.goto(live_url)
    rendered(1)  # the first grid appears without a click
    assert "10 classes" in page.text_content("#about")
    first = page.evaluate(PIXELS)

    # search a class: "e" lists several, a click picks "seven"
    page.fill("#class", "")
    page.locator("#class").press_sequentially("e")
    page.click("#class-matches button:text-is('7: seven')")
    assert page.input_value("#class") == "seven"
    assert "7: seven" in page.text_content("#class-hint")
    # move the truncation slider with the keyboard: 1.00 -> 0.50 in steps of 0.05
    page.focus("#truncation")
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    assert page.text_content("#truncation-value") == "0.50"
    page.click("#generate")
    rendered(2)
    assert page.evaluate(PIXELS) != first
    assert "7: seven" in page.text_content("#status") and "0.50" in page.text_content("#status")

    # the download link gives exactly the grid on screen, as the API makes it
    with page.expect_download() as download:
        page.click("#download")
    data = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "ganforge-sample-c7-s0.png"
    assert data == client.get("/api/sample", params={"class": 7, "n": 8, "seed": 0,
                                                     "truncation": 0.5}).content

    # a mistake shows the server's message on the page, and the last image stays
    page.fill("#class", "zebra")
    page.click("#generate")
    page.wait_for_selector("#error:not([hidden])")
    assert "unknown class 'zebra'" in page.text_content("#error")
    assert page.get_attribute("body", "data-state") == "error"
    page.fill("#seed", "-4")
    page.fill("#class", "7")
    page.click("#generate")
    page.wait_for_function(
        "() => document.getElementById('error').textContent.includes('seed must')")

    # interpolate from class seven (seed 0) to class two (seed 1) in 5 steps
    page.fill("#seed", "0")
    page.select_option("#mode", "both")
    page.fill("#class-b", "two")
    page.fill("#steps", "5")
    page.click("#interpolate")
    rendered(3)
    assert page.evaluate("document.getElementById('image').naturalWidth") == tile(5)
    with page.expect_download() as download:
        page.click("#download")
    data = Path(download.value.path()).read_bytes()
    assert decode(data).shape == (tile(1), tile(5))
    assert data == client.get("/api/interpolate", params={
        "mode": "both", "class_a": 7, "class_b": 2, "seed_a": 0, "seed_b": 1, "steps": 5,
        "truncation": 0.5}).content

    # a random seed draws a new grid at once
    page.click("#random-seed")
    rendered(4)
    assert page.input_value("#seed").isdigit()

    assert not script_errors
    local = [u for u in requests if not u.startswith((live_url, "blob:", "data:"))]
    assert not local, f"the page fetched from elsewhere: {local}"

