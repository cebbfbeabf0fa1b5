"""The GPU check (`python -m benchmarks.gpu_check`) runs end to end in its tiny CPU version, so the
command a GPU owner runs cannot rot: every arm trains, a killed run resumes to the same weights,
bf16 ranks as fp32 does, generation works, and the report carries what the GPU run reports."""

import json
import os
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def test_gpu_check_tiny_cpu_version_runs_end_to_end(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--tiny", "--device", "cpu", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "results.json").read_text())
    assert [(a["fusion"], a["injection"]) for a in result["arms"]] == [
        ("last", "input"), ("global_softmax", "input"), ("token_softmax", "input"), ("last", "cross_attention")]
    for arm in result["arms"]:
        assert arm["losses_finite"] and arm["examples_per_s"] > 0 and arm["llm_tokens_per_s"] > 0
        assert arm["peak_memory_gb"] > 0 and arm["executed_tflop_per_step"] >= 0 and 0 < arm["mfu"] < 1
        assert "profile" in arm and arm["profile"]["top_ops"]  # a CPU is far below 40%: the profile is there
        assert (arm["mfu_useful"] is None) == (arm["injection"] == "cross_attention")
    assert result["resume"]["child_returncode"] == -9 and result["resume"]["equal"]
    assert result["resume"]["checkpoint_step_at_kill"] < result["resume"]["killed_after_step"]
    assert result["bf16_vs_fp32"]["ok"] and result["generation"]["ok"]
    assert all(result["checks"].values())
    assert "GPU check on cpu" in (tmp_path / "results.md").read_text()
    assert not list((REPO / "benchmarks" / "results" / "gpu").glob("cpu*"))  # CPU runs never land in the GPU results


def test_bf16_peak_comes_from_the_table_or_the_flag():
    import torch

    from benchmarks.gpu_check import BF16_PEAK_TFLOPS, peak_flops, table_key

    assert peak_flops(torch.device("cpu"), 989.0) == (989e12, "--peak-tflops")
    names = {"NVIDIA H100 80GB HBM3": 989.0, "NVIDIA H100 PCIe": 756.0, "NVIDIA H200": 989.0,
             "NVIDIA A100-SXM4-80GB": 312.0, "NVIDIA L4": 121.0, "NVIDIA L40S": 362.0, "NVIDIA A10G": 70.0}
    for name, tflops in names.items():
        assert BF16_PEAK_TFLOPS[table_key(name)] == tflops, name
    assert table_key("Tesla V100-SXM2-16GB") is None  # no bf16 tensor cores: --peak-tflops or no MFU
