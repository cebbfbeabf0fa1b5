"""What the training recipe refuses before it spends anything: a bridge with nothing to train, and the
sharded launches (FSDP, DeepSpeed) that layerbridge does not test yet. Each refusal names what works."""

from __future__ import annotations

import os

from accelerate import Accelerator
from accelerate.utils import DistributedType

from layerbridge.errors import ConfigError

def refuse_untrainable(bridge_config) -> None:
    """--llm-input instruction+text is the LLM alone reading the raw text: no soft tokens, so no part
    of the bridge reaches the loss and nothing could train. Refused before anything is loaded."""
    if bridge_config.llm_input == "instruction+text":
        raise ConfigError("--llm-input instruction+text cannot be trained: the LLM then reads no soft tokens, so "
                          "no trained part of the bridge (fusion, projector, soft prompt, injection) reaches the "
                          "loss. To train the LLM reading the raw text, use compare's LLM-alone reference "
                          "(`layerbridge compare --references llm_alone`: the LLM's own embeddings as the encoder "
                          "and a learned --soft-prompt-length 16 prompt); to give a bridge the text as well, "
                          "--llm-input soft+instruction+text; the untrained LLM alone is evaluated by "
                          "`--references llm_zero_shot` (generation tasks)")


def refuse_sharded_launch(environ=None) -> None:
    """FSDP or DeepSpeed asked for through accelerate's environment (`accelerate launch --use_fsdp /
    --use_deepspeed`, or a config file naming them, set ACCELERATE_USE_FSDP / ACCELERATE_USE_DEEPSPEED):
    refused before the Accelerator is built; on a CPU accelerate would silently ignore FSDP, and
    without the deepspeed package it fails with an ImportError."""
    environ = os.environ if environ is None else environ
    for variable, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        if environ.get(variable, "false").lower() == "true":
            raise ConfigError(f"{variable}=true: accelerate is configured for {name}, which layerbridge does not "
                              f"support yet (untested); {SUPPORTED}")


SUPPORTED = ("supported: one process, or DDP over several processes or GPUs "
             "(`accelerate launch --multi_gpu --num_processes N -m layerbridge.cli.main train ...`)")


def refuse_sharded(accelerator: Accelerator) -> None:
    """FSDP and DeepSpeed are not tested here: refused up front, naming what is."""
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        raise ConfigError(f"accelerate is configured for {accelerator.distributed_type.value}, which layerbridge does "
                          f"not support yet (untested); {SUPPORTED}")
