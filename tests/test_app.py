"""`layerbridge app`: a tiny trained bridge served on a free port. Its JSON endpoint answers (label
probabilities, the heat map), a folder that is not a bridge is refused with a clear message, the
command prints its address, and in a real headless browser (Debian's chromium and its driver, through
selenium) a Sinhala sentence typed into the page gets its answer and its heat map; the screenshot is
kept (its path printed, and copied to $LAYERBRIDGE_TEST_ARTIFACTS when set)."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from layerbridge.app import Answerer, address, make_server
from layerbridge.app.page import PAGE
from layerbridge.cli.main import main

from tiny_models import LABELS, save_tiny_models, save_tiny_news

SINHALA = "ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම ජයග්‍රහණය කළේය."
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A token_softmax bridge trained 2 steps on a tiny English task: (root, run folder)."""
    root = tmp_path_factory.mktemp("app")
    enc, llm = save_tiny_models(root)
    task = save_tiny_news(root, sinhala=False, train_repeats=2)
    run = root / "run"
    assert main(["train", "--encoder", str(enc), "--llm", str(llm), "--task", str(task), "--dev-size", "3",
                 "-o", str(run), "--fusion", "token_softmax", "--max-steps", "2", "--batch-size", "4"]) == 0
    return root, run


@pytest.fixture(scope="module")
def served(trained):
    """The app on a free port of 127.0.0.1, in a thread: (url, answerer)."""
    _, run = trained
    answerer = Answerer.load(run, task=json.loads((run / "train_config.json").read_text())["task"])
    server = make_server(answerer, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield address(server), answerer
    server.shutdown()
    server.server_close()


def post(url: str, payload, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url + "api/answer", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_json_endpoint_answers_with_probabilities_and_heat_map(served):
    url, answerer = served
    status, data = post(url, {"text": SINHALA})
    assert status == 200, data
    assert data["kind"] == "classification" and data["encoder_input"] == f"News: {SINHALA} Category: "
    assert [row["label"] for row in data["labels"]] == LABELS and data["answer"] in LABELS
    assert sum(row["probability"] for row in data["labels"]) == pytest.approx(1, abs=1e-5)
    expected = answerer.bridge.layer_weights([data["encoder_input"]])[0]
    heat = data["heatmap"]
    assert heat["raw_tokens"] == expected["tokens"] and len(heat["tokens"]) == len(expected["tokens"])
    assert heat["layers"] == list(answerer.bridge.layer_indices)
    assert len(heat["weights"]) == len(heat["tokens"]) and {len(r) for r in heat["weights"]} == {len(heat["layers"])}
    assert all(sum(row) == pytest.approx(1, abs=1e-3) for row in heat["weights"])  # softmax over layers per token

    with urllib.request.urlopen(url + "api/info", timeout=30) as response:
        info = json.loads(response.read())
    assert info["task"] == "tiny_news" and info["labels"] == LABELS and info["fusion"] == "token_softmax"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/html") and b"api/answer" in response.read()
    assert post(url, {"text": "  "}) == (400, {"error": "the text is empty: type or paste a text in any language"})
    status, data = post(url, None, raw=b"{not json")
    assert status == 400 and "not JSON" in data["error"]
    assert "innerHTML" not in PAGE and "insertAdjacentHTML" not in PAGE  # user text only ever as textContent


def test_a_bridge_without_a_task_writes_free_text(trained, tmp_path):
    from layerbridge.bridge import LayerBridge
    from layerbridge.evaluation.generation import Decoding

    _, run = trained
    LayerBridge.from_pretrained(run).save_pretrained(tmp_path / "bare")  # no train_config.json: no task
    answerer = Answerer.load(tmp_path / "bare", decoding=Decoding(max_new_tokens=3))
    data = answerer.answer(SINHALA)
    assert data["kind"] == "generation" and isinstance(data["output"], str) and "labels" not in data
    assert data["encoder_input"] == SINHALA and len(data["heatmap"]["tokens"]) == len(data["heatmap"]["weights"])


def test_a_folder_that_is_not_a_bridge_is_refused(tmp_path, capsys):
    (tmp_path / "bridge_config.json").write_text("{}")
    assert main(["app", str(tmp_path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"layerbridge app: error: {tmp_path} is not a saved bridge: it has no bridge.safetensors" in err
    assert main(["app", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "is not a folder: give the folder of a saved bridge" in capsys.readouterr().err


def test_the_command_prints_its_address_and_serves(trained):
    _, run = trained
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "layerbridge.cli.main", "app", str(run), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines, found, deadline = [], None, time.monotonic() + 180
        while found is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, "".join(lines)
        assert int(found.group(1)) > 0 and "(Ctrl+C stops it)" in line
        with urllib.request.urlopen(found.group(0) + "api/info", timeout=30) as response:
            assert json.loads(response.read())["labels"] == LABELS
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                    reason="no /usr/bin/chromium or /usr/bin/chromedriver (apt-get install chromium chromium-driver)")
def test_the_page_in_headless_chromium(served, tmp_path):
    pytest.importorskip("selenium", reason="selenium is not installed (the dev extra has it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, answerer = served
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)  # never Selenium Manager
    try:
        driver.get(url)
        WebDriverWait(driver, 20).until(lambda d: "fusion token_softmax" in d.find_element(By.ID, "info").text)
        box = driver.find_element(By.ID, "text")
        box.send_keys(SINHALA)
        assert box.get_attribute("value") == SINHALA
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-answered") == "1")

        rows = driver.find_elements(By.CSS_SELECTOR, "#labels tr.label-row")
        assert [r.get_attribute("data-label") for r in rows] == LABELS
        assert sum(float(r.get_attribute("data-probability")) for r in rows) == pytest.approx(1, abs=1e-5)
        expected = answerer.bridge.layer_weights([f"News: {SINHALA} Category: "])[0]
        token_rows = driver.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr.token-row")
        assert len(token_rows) == len(expected["tokens"])
        assert len(driver.find_elements(By.CSS_SELECTOR, "#heatmap th.layer-col")) == len(answerer.bridge.layer_indices)
        assert {len(r.find_elements(By.CSS_SELECTOR, "td.weight")) for r in token_rows} == {len(expected["layers"])}
        cell = token_rows[len(token_rows) // 2].find_elements(By.CSS_SELECTOR, "td.weight")[-1]
        webdriver.ActionChains(driver).move_to_element(cell).perform()  # hover: the value shows
        assert re.search(r"layer \d+: 0\.\d{4}", driver.find_element(By.ID, "hover").text)
        assert cell.get_attribute("title") == driver.find_element(By.ID, "hover").text
        shot = save_screenshot(driver, tmp_path / "layerbridge-app.png")

        box.clear()  # markup in the text stays text
        box.send_keys('<b id="injected">bold</b><img src=x onerror="document.title=1">')
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-answered") == "2")
        assert driver.find_elements(By.ID, "injected") == [] and driver.find_elements(By.CSS_SELECTOR, "#answer img") == []
        assert "<b" in driver.find_element(By.ID, "answer-note").text and driver.title == "layerbridge app"
    finally:
        driver.quit()
    assert shot.stat().st_size > 10_000


def save_screenshot(driver, path: Path) -> Path:
    """The whole page as a PNG, its path printed, and a copy in $LAYERBRIDGE_TEST_ARTIFACTS if set."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, min(max(900, height + 200), 4000))  # + the window's own bars
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    print(f"app screenshot: {path}")
    artifacts = os.environ.get("LAYERBRIDGE_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / path.name)
        print(f"app screenshot copied to: {Path(artifacts) / path.name}")
    return path


def test_a_negative_or_bad_content_length_is_a_clear_400(served):
    """A negative length would make the server read until the client closes (a hung thread)."""
    import http.client
    from urllib.parse import urlparse

    url, _ = served
    address = urlparse(url)
    for length in ("-1", "ten"):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        connection.putrequest("POST", "/api/answer")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", length)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 400, (length, response.status)
        assert "error" in json.loads(response.read())
        connection.close()


def raw_request(url: str, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, dict | str]:
    import http.client
    from urllib.parse import urlparse

    where = urlparse(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    connection.putrequest(method, path, skip_host="Host" in headers)
    for key, value in {**headers, "Content-Length": str(len(body))}.items():
        connection.putheader(key, value)
    connection.endheaders(body)
    response = connection.getresponse()
    status, text = response.status, response.read().decode("utf-8")
    connection.close()
    return status, (json.loads(text) if text.startswith("{") else text)


def test_on_loopback_only_requests_to_a_loopback_name_are_answered(served):
    """DNS rebinding: a page at evil.example whose name now points to 127.0.0.1 must get nothing."""
    url, _ = served
    port = url.rsplit(":", 1)[1].strip("/")
    status, body = raw_request(url, "GET", "/api/info", {"Host": f"evil.example:{port}"})
    assert status == 403 and "localhost only" in body["error"] and "evil.example" in body["error"]
    status, _ = raw_request(url, "POST", "/api/answer", {"Host": "evil.example", "Content-Type": "application/json"},
                            json.dumps({"text": "hello"}).encode())
    assert status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        status, page = raw_request(url, "GET", "/", {"Host": host})
        assert status == 200 and "<html" in page.lower(), host


def test_an_answer_is_asked_for_in_json_only(served):
    """A cross-site form or a text/plain fetch (sent by browsers without asking) is refused."""
    url, _ = served
    body = json.dumps({"text": "The team won the cricket match."}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, answer = raw_request(url, "POST", "/api/answer", {"Content-Type": content_type}, body)
        assert status == 400 and "application/json" in answer["error"], content_type
    status, answer = raw_request(url, "POST", "/api/answer", {"Content-Type": "application/json; charset=utf-8"}, body)
    assert status == 200 and "error" not in answer


def test_the_host_header_name_drops_its_port():
    from layerbridge.app.server import host_name

    assert host_name("[::1]:8000") == "::1" and host_name("LocalHost:80") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1" and host_name("::1") == "::1"


def test_a_name_that_only_starts_like_a_loopback_address_is_not_one(served):
    from layerbridge.app.server import is_loopback

    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("LocalHost")
    assert not is_loopback("127.0.0.1.evil.example") and not is_loopback("localhost.evil.example")
    url, _ = served
    for host in ("127.0.0.1.evil.example:80", ""):
        status, _ = raw_request(url, "GET", "/api/info", {"Host": host})
        assert status == 403, host
