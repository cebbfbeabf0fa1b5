"""Durable commits: a file's data reaches the disk (fsync) before the rename that makes it the
file, and the folder holding the rename is flushed after it, for atomic writes and checkpoints."""

import os
from pathlib import Path

import pytest

from layerbridge.io import atomic_write_text
from layerbridge.training.checkpointer import CHECKPOINT_DIR, Checkpointer


@pytest.fixture
def calls(monkeypatch):
    """Every os.fsync (the path of its descriptor) and os.replace (source, destination), in order."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name a descriptor's file")
    recorded, fsync, replace = [], os.fsync, os.replace

    def record_fsync(fd):
        recorded.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return fsync(fd)

    def record_replace(src, dst):
        recorded.append(("replace", str(src), str(dst)))
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", record_fsync)
    monkeypatch.setattr(os, "replace", record_replace)
    return recorded


def test_atomic_write_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, calls):
    path = tmp_path / "results.json"
    atomic_write_text(path, "{}\n")
    replace = next(i for i, c in enumerate(calls) if c[0] == "replace")
    tmp = calls[replace][1]
    assert calls[replace][2] == str(path) and path.read_text() == "{}\n"
    assert ("fsync", tmp) in calls[:replace]  # the data first
    assert ("fsync", str(tmp_path)) in calls[replace + 1 :]  # then the rename


def test_checkpoint_files_reach_the_disk_before_the_renames_that_commit_them(tmp_path, calls):
    checkpointer = Checkpointer(tmp_path, None, None, None, None, ())
    for round_ in range(2):  # the second commit also moves the first checkpoint aside
        checkpointer.staging.mkdir()
        for name in ("bridge.safetensors", "trainer_state.json"):
            (checkpointer.staging / name).write_text(f"{name} {round_}")
        calls.clear()
        checkpointer._commit()
        renames = [i for i, c in enumerate(calls) if c[0] == "replace"]
        assert calls[renames[-1]][1:] == (str(checkpointer.staging), str(tmp_path / CHECKPOINT_DIR))
        before = calls[: renames[0]]
        for name in ("bridge.safetensors", "trainer_state.json"):
            assert ("fsync", str(checkpointer.staging / name)) in before
        assert ("fsync", str(checkpointer.staging)) in before
        assert ("fsync", str(tmp_path)) in calls[renames[-1] + 1 :]
        assert (tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text() == f"trainer_state.json {round_}"
        assert not (tmp_path / f".{CHECKPOINT_DIR}.old").exists()
