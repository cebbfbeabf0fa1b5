"""`layerbridge tasks`: the tasks, their languages and which data sources are available now."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tasks",
        help="list the tasks and which data sources (local folder, hub) are available",
        description=(
            "List the built-in tasks with their languages, label words, English training source, "
            "what the local data folder holds and whether the Hugging Face Hub is reachable. "
            "Data folder format and user task files: docs/tasks.md."
        ),
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="local data folder (default: $LAYERBRIDGE_DATA_DIR)",
    )
    parser.add_argument(
        "--task",
        metavar="NAME_OR_FILE",
        help="show one task in detail (per-language splits and row counts); a name or a .yaml/.json task file",
    )
    parser.add_argument("--no-hub-check", action="store_true", help="do not probe the hub (report it as 'not checked')")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerbridge.cli.output import console as make_console

    from layerbridge.tasks import get_task, hub_status, list_tasks, resolve_data_dir

    console = make_console()
    data_dir = resolve_data_dir(args.data_dir)
    hub = "not checked" if args.no_hub_check else hub_status()
    if args.task:
        _detail(console, get_task(args.task), data_dir, hub)
    else:
        _overview(console, [get_task(n) for n in list_tasks()], data_dir, hub)
    return 0


def _hub_cell(task, hub: str) -> str:
    if task.files is not None:
        return "-"
    if task.hub is None:
        return "none"
    colour = {"reachable": "green", "unreachable": "red", "offline": "yellow"}.get(hub, "dim")
    return f"[{colour}]{hub}[/]"


def _overview(console, tasks, data_dir, hub: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from layerbridge.tasks import local_status

    where = str(data_dir) if data_dir else "not set (--data-dir / LAYERBRIDGE_DATA_DIR)"
    table = Table(title="layerbridge tasks", caption=f"data folder: {where} · hub: {hub}")
    table.add_column("task", no_wrap=True)
    table.add_column("langs", no_wrap=True)
    table.add_column("labels", overflow="fold")
    table.add_column("English train", overflow="fold")
    table.add_column("local", overflow="fold")
    table.add_column("hub", no_wrap=True)
    for task in tasks:
        status = local_status(task, data_dir)
        local = status.summary
        colour = {"found": "green", "missing": "red"}.get(local, "yellow")
        local_cell = f"[{colour}]{local}[/]"
        if local == "missing" and task.hub is not None:
            local_cell += "\n[dim](hub only)[/]"
        train = task.train_source
        if data_dir is not None or task.files is not None:
            train += f"\n[dim]local: {status.train}[/]"
        langs = f"{len(task.languages)}"
        if task.low_resource:
            langs += f"\n[dim]{len(task.low_resource)} low[/]"
        labels = "[i]writes[/] " + escape(task.target) if task.is_generation else "\n".join(task.label_words)
        table.add_row(task.name, langs, labels, train, local_cell, _hub_cell(task, hub))
    console.print(table)
    statuses = [local_status(t, data_dir).summary for t in tasks]
    if hub != "reachable" and all(s == "missing" for s in statuses):
        console.print(
            "[yellow]No data source is available: set --data-dir or LAYERBRIDGE_DATA_DIR to a local data "
            "folder (format: docs/tasks.md), or connect to the hub.[/]"
        )


def _detail(console, task, data_dir, hub: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from layerbridge.tasks import local_counts, local_status

    status = local_status(task, data_dir)
    head = f"[bold]{escape(task.name)}[/]"
    console.print(head + (f": {escape(task.description)}" if task.description else ""))
    console.print(f"  prompt (encoder input): {escape(repr(task.prompt))}")
    if task.is_generation:
        target = f"{task.target}" + (f" of the {task.reference_lang} row with the same {task.id_field}"
                                     if task.reference_lang else "")
        console.print(f"  generation: the LLM writes {escape(target)}; instruction {escape(repr(task.instruction))}; "
                      f"training targets cut at {task.max_target_length or 'no'} LLM tokens")
    else:
        console.print(f"  label words: {escape(' / '.join(task.label_words))}")
    if task.label_map:
        console.print(f"  label map: {escape(str(task.label_map))}")
    train = escape(f"{task.train_source} (local: {status.train})")
    console.print(f"  English train: {train} · eval split: {escape(task.eval_split)}")
    console.print(f"  metrics: {', '.join(task.metrics)}")
    if task.hub is not None:
        console.print(f"  hub: {task.hub.path} ({hub})")
    if task.task_file is not None:
        console.print(f"  task file: {escape(str(task.task_file))}")
    counts = local_counts(task, data_dir)
    table = Table(title=f"{task.name}: languages", caption=f"data folder: {data_dir or 'not set'}")
    for col in ("language", "low-resource", "local splits (rows)", f"{task.eval_split} source (auto)"):
        table.add_column(col)
    langs = list(task.languages)
    if task.train_lang not in langs:
        langs.insert(0, task.train_lang)
    for lang in langs:
        splits = counts.get(lang, {})
        cells = ", ".join(f"{s} {n}" for s, n in splits.items()) or "[dim]-[/]"
        if task.eval_split in splits:
            src = "local"
        elif task.hub is not None and lang in task.languages:
            src = f"hub ({hub})"
        else:
            src = "[dim]-[/]" if lang not in task.languages else "[red]missing[/]"
        low = "yes" if lang in task.low_resource else ""
        table.add_row(escape(lang) + (" (train)" if lang == task.train_lang else ""), low, cells, src)
    console.print(table)
