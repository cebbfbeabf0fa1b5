"""The encoder cache's file: shared by a run's processes (written once), sized before the first
step (a disk too small stops the run there, naming the folder and the bytes), and never left
behind: removed on SIGTERM, and a dead run's folder removed at the next start."""

import collections
import gc
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from layerbridge.bridge import BridgeConfig, LayerBridge
from layerbridge.cli.main import main
from layerbridge.encoder_cache import EncoderStateCache

from test_cli import launch_two
from tiny_models import save_tiny_models, save_tiny_news

TESTS = Path(__file__).parent
TEXTS = ["The match ended with a late goal.", "Parliament passed the budget after a long debate.",
         "ශ්‍රී ලංකා ක්‍රිකට්", "A phone.", "Scientists measured the chip."]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache-cli")
    enc, llm = save_tiny_models(root)
    task = save_tiny_news(root, sinhala=False)
    return root, ["train", "--encoder", str(enc), "--llm", str(llm), "--task", str(task),
                  "--dev-size", "3", "--fusion", "global_softmax", "--batch-size", "4"]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def stale_folder(directory: Path, name: str, pid: int, host: str | None = None) -> Path:
    folder = directory / f"layerbridge-encoder-cache-{name}"
    folder.mkdir(parents=True)
    (folder / "owner.json").write_text(json.dumps({"host": host or socket.gethostname(), "pid": pid}))
    (folder / "states.bin").write_bytes(b"\0" * 64)
    return folder


def test_the_folder_of_a_dead_run_is_removed_at_the_next_start(tiny_parts, tmp_path):
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="token_softmax"), *tiny_parts)
    dead = stale_folder(tmp_path, "killed", dead_pid())
    live = stale_folder(tmp_path, "live", os.getppid())  # pytest's parent: alive
    elsewhere = stale_folder(tmp_path, "other-host", dead_pid(), host="another-host.example")
    cache = EncoderStateCache(bridge, directory=tmp_path)
    assert not dead.exists() and live.exists() and elsewhere.exists()
    assert cache.folder.exists() and json.loads((cache.folder / "owner.json").read_text())["pid"] == os.getpid()
    del cache
    gc.collect()
    assert {p.name for p in tmp_path.iterdir()} == {live.name, elsewhere.name}


def test_sigterm_removes_the_cache_folder(tmp_path):
    script = (f"import sys, time\nsys.path.insert(0, {str(TESTS)!r})\n"
              "from tiny_models import tiny_encoder, tiny_llm, tiny_tokenizer\n"
              "from layerbridge.bridge import BridgeConfig, LayerBridge\n"
              "from layerbridge.encoder_cache import EncoderStateCache\n"
              "bridge = LayerBridge(BridgeConfig(encoder='e', llm='l', fusion='last'), tiny_encoder(), "
              "tiny_tokenizer('encoder'), tiny_llm(), tiny_tokenizer('llm'))\n"
              f"cache = EncoderStateCache(bridge, directory={str(tmp_path)!r})\n"
              "cache.states(['a text', 'another text'])\nprint(cache.folder, flush=True)\ntime.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    folder = Path(child.stdout.readline().strip())
    assert (folder / "states.bin").stat().st_size > 0
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == -signal.SIGTERM  # still dies of the signal, as a scheduler expects
    assert not folder.exists() and not list(tmp_path.iterdir())


def test_fill_encodes_the_planned_pages_once_with_the_states_of_the_memory_cache(tiny_parts, tmp_path):
    bridge = LayerBridge(BridgeConfig(encoder="e", llm="l", fusion="token_softmax"), *tiny_parts)
    lengths = bridge.token_lengths(TEXTS)
    memory, disk = EncoderStateCache(bridge), EncoderStateCache(bridge, directory=tmp_path)
    for cache in (memory, disk):
        cache.plan(TEXTS, lengths, page_size=2)
    size = disk.fill(TEXTS[:1])  # only the page of the first text is read by the run
    page = disk.page_of[TEXTS[0]]
    assert disk.encoded == len(page) and size == sum(bridge.token_lengths(page)) * disk.bytes_per_token()
    assert (disk.folder / "states.bin").stat().st_size == size
    (m_states, m_mask), (d_states, d_mask) = memory.states(TEXTS), disk.states(TEXTS)
    assert torch.equal(m_mask, d_mask) and torch.equal(m_states, d_states)
    assert disk.encoded == len(TEXTS) and disk.slabs  # the others: computed when asked, kept in RAM


def test_a_disk_too_small_stops_the_run_before_its_first_step(task, tmp_path, monkeypatch, capsys):
    import layerbridge.training.recipe as recipe

    root, args = task
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    monkeypatch.setattr(recipe, "train_step", lambda *a: pytest.fail("a training step ran"))
    assert main([*args, "--max-steps", "2", "-o", str(tmp_path / "run"), "--encoder-cache-dir", str(tmp_path / "c")]) == 2
    error = capsys.readouterr().err
    found = re.search(r"needs ([\d,]+) bytes \([\d.]+ GiB\) in (\S+) but only 1,000 bytes are free", error)
    assert found, error
    assert int(found[1].replace(",", "")) > 1000 and found[2].startswith(str(tmp_path / "c" / "layerbridge-encoder-cache-"))
    gc.collect()
    assert not list((tmp_path / "c").iterdir())  # its folder went with it


def test_two_processes_encode_each_text_once_into_one_file(task, tmp_path):
    """Each process records the texts it encoded; together they encoded each text once (each
    process used to encode, and store, every text it read)."""
    root, args = task
    spy = tmp_path / "spy.py"
    spy.write_text(
        "import atexit, json, os, sys\nimport layerbridge.encoder_cache as ec\nfrom layerbridge.cli.main import main\n"
        "seen = []\ncompute = ec.EncoderStateCache._compute\n"
        "def _compute(self, missing):\n    seen.extend(missing)\n    return compute(self, missing)\n"
        "ec.EncoderStateCache._compute = _compute\n"
        f"atexit.register(lambda: open(os.path.join({str(tmp_path)!r}, 'encoded_' + os.environ['RANK'] + '.json'), "
        "'w').write(json.dumps(seen)))\nsys.exit(main(sys.argv[1:]))\n")
    launched = launch_two([*args, "--max-steps", "3", "--micro-batch-size", "2", "-o", tmp_path / "two",
                           "--encoder-cache-dir", tmp_path / "c"], script=spy)
    assert launched.returncode == 0, launched.stderr[-3000:]
    encoded = [json.loads((tmp_path / f"encoded_{rank}.json").read_text()) for rank in (0, 1)]
    together = encoded[0] + encoded[1]
    assert together and len(together) == len(set(together)), [len(e) for e in encoded]
    assert "encoded before training by 2 process(es)" in launched.stdout
    assert not list((tmp_path / "c").iterdir())  # removed after training
