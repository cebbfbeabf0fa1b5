"""What a bridge's weights were trained on, across stages (`BridgeConfig.trained_on`), and the guard it
serves: a bridge is never evaluated on a task whose rows (or their translations) it saw in training.

A task says which evaluation tasks its data comes from (`derived_from`, e.g. bitext written from XNLI's
premises: `[xnli, indicxnli]`). Each training run records its own task after the record of the stage-1
bridge it started from (`--init-from`), so a stage-2 bridge still knows what its stage 1 saw, also when
the stage-1 folder or its task file is gone (the record travels in bridge_config.json)."""

from __future__ import annotations

from typing import Any

from layerbridge.errors import ConfigError


def stage_entry(task) -> dict[str, Any]:
    """One training stage's record: the task's name, its task file (user tasks) and what its data comes from."""
    return {"task": task.name, "task_file": str(task.task_file) if task.task_file is not None else None,
            "derived_from": list(task.derived_from)}


def trained_on(task, stage_config=None, stage_source: str | None = None) -> list[dict[str, Any]]:
    """The record of a run on `task`: the stage-1 bridge's record (`stage_config`, from `stage_source`),
    each of its entries naming the bridge that trained on it, then this run's own entry. A stage-1
    bridge saved before the record existed contributes an entry naming it with its task unknown."""
    earlier: list[dict[str, Any]] = []
    if stage_config is not None:
        known = stage_config.trained_on
        if known is None:
            known = [{"task": None, "task_file": None, "derived_from": []}]
        earlier = [{**entry, "bridge": entry.get("bridge") or stage_source} for entry in known]
    return [*earlier, stage_entry(task)]


def seen_by(config, task_name: str) -> list[dict[str, Any]]:
    """The entries of a bridge's record whose data comes from the task `task_name` (case-insensitive).
    A harness task counts as its family's: `xnli_sw` (lm-evaluation-harness) is `xnli`'s data. The task a
    stage trained on is not refused by that stage's entry: its test split is held out from its training
    rows (the bitext task `xnli_bitext` on its held-out premises); another stage's entry derived from it
    still refuses it (a stage 2 trained on xnli from an xnli bitext stage 1 is refused xnli)."""
    name = task_name.lower()

    def derives(entry: dict[str, Any]) -> bool:
        if str(entry.get("task") or "").lower() == name:  # the entry's own task: its test split was held out
            return False
        sources = [str(source).lower() for source in entry.get("derived_from") or []]
        return any(name == source or name.startswith(f"{source}_") for source in sources)

    return [entry for entry in config.trained_on or [] if derives(entry)]


def describe(entry: dict[str, Any]) -> str:
    """An entry in words: the task, its file, and the stage-1 bridge it trained (if not this one)."""
    where = f" ({entry['task_file']})" if entry.get("task_file") else ""
    stage = f", which trained the stage-1 bridge {entry['bridge']}" if entry.get("bridge") else ""
    return f"task {entry.get('task')!r}{where}, derived from {entry.get('derived_from')}{stage}"


def refuse_seen(config, task_name: str, bridge: str = "this bridge") -> None:
    """Refuse evaluating `bridge` (its BridgeConfig: `config`) on `task_name` when its training, or a
    stage-1 bridge's, read data derived from that task: its scores there would be contaminated."""
    seen = seen_by(config, task_name)
    if seen:
        raise ConfigError(f"{bridge} may not be evaluated on {task_name}: its training saw {task_name}'s data through "
                          f"{'; '.join(describe(entry) for entry in seen)}. Its scores on {task_name} would be "
                          f"contaminated; evaluate it on another task, or evaluate a bridge trained without that "
                          f"task file (docs/tasks.md, \"Bitext\")")


def card_lines(config) -> list[str]:
    """The model card's words on what the bridge saw: the tasks it may not be evaluated on, if any."""
    seen = sorted({str(d) for entry in config.trained_on or [] for d in entry.get("derived_from") or []})
    if not seen:
        return []
    tasks = ", ".join(f"`{entry['task']}`" for entry in config.trained_on if entry.get("derived_from"))
    return ["", "## Data it saw", "", f"Trained (itself or as a stage-1 bridge) on {tasks}, whose rows come from "
            f"{', '.join(f'`{name}`' for name in seen)}: `layerbridge evaluate` refuses those tasks for it (its "
            "scores there would be contaminated)."]
