"""What a result was measured on: the CPU (and GPU), the precision used, the library versions.
Recorded beside results (compare.json) so that a figure always says which machine it came from."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_description() -> str:
    """Model name, family/model numbers and the matrix extensions torch can use, from /proc/cpuinfo."""
    info: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    for line in (cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []):
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    flags = set(info.get("flags", "").split())
    extensions = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    name = info.get("model name") or platform.processor() or platform.machine()
    return f"{name} (family {info.get('cpu family', '?')}, model {info.get('model', '?')}; {', '.join(extensions)})"


def environment(mixed_precision: str) -> dict:
    """The machine and software of a run; `mixed_precision` as given (auto is resolved here)."""
    import torch
    import transformers

    from layerbridge.version import __version__
    from layerbridge.precision import label, native_bf16

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_description(), "cores": os.cpu_count(), "gpu": gpu, "native_bf16": native_bf16(),
            "precision": label(mixed_precision), "torch": torch.__version__,
            "transformers": transformers.__version__, "layerbridge": __version__}


def inference_device():
    """Where a single-process command (evaluate, predict, the evaluation harness) runs: the
    accelerator accelerate picks (CUDA, MPS...), else the CPU."""
    from accelerate import PartialState

    return PartialState().device
