"""Tasks and data: the built-in benchmarks, user task files, and loading examples from a local
data folder or the Hugging Face Hub (docs/tasks.md).

    task = get_task("xnli")                       # or get_task("path/to/my_task.yaml")
    train, dev = load_train_dev(task, train_limit=100_000, seed=0)
    test = load_examples(task, "sw", "test", limit=500)

Sources: source="auto" reads a split from the local data folder (--data-dir / $LAYERBRIDGE_DATA_DIR)
when the folder holds it, else from the hub; "local" and "hub" force one source.
"""

from .base import Example, HubSpec, Task, TextCorpus
from .convert import SkippedRowsWarning
from .hub import hub_status
from .loading import PAPER_TRAIN_LIMIT, available_languages, load_examples
from .local import ENV_DATA_DIR, resolve_data_dir
from .registry import get_task, list_tasks, register_task
from .rules import GENERATION_METRICS, METRICS, TaskFieldError
from .sampling import DEV_FRACTION, DEV_MAX, dev_count, split_train_dev, stratified_sample
from .status import LocalStatus, local_counts, local_status
from .training_data import TrainFallbackWarning, load_train_dev

__all__ = [
    "Example",
    "Task",
    "HubSpec",
    "METRICS",
    "GENERATION_METRICS",
    "TextCorpus",
    "TaskFieldError",
    "ENV_DATA_DIR",
    "TrainFallbackWarning",
    "SkippedRowsWarning",
    "get_task",
    "list_tasks",
    "register_task",
    "load_examples",
    "load_train_dev",
    "resolve_data_dir",
    "hub_status",
    "LocalStatus",
    "local_status",
    "local_counts",
    "available_languages",
    "stratified_sample",
    "split_train_dev",
    "dev_count",
    "DEV_MAX",
    "DEV_FRACTION",
    "PAPER_TRAIN_LIMIT",
]
