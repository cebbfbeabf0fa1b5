"""Share bridges on the Hugging Face Hub like adapters: only the trained weights, the config that
names (and fingerprints) the base models, and a model card. All through `huggingface_hub`."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from layerbridge.bridge.config import CONFIG_NAME
from layerbridge.bridge.lineage import card_lines
from layerbridge.bridge.saving import WEIGHTS_NAME
from layerbridge.decoding import GENERATION_CONFIG_NAME
from layerbridge.errors import ConfigError

CARD_NAME = "README.md"
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PAPER = """@inproceedings{puranegedara2025multilingual,
  title     = {Utilizing Multilingual Encoders to Improve Large Language Models for Low-Resource Languages},
  author    = {Puranegedara and others},
  booktitle = {MERCon 2025},
  note      = {arXiv:2508.09091},
  year      = {2025}
}
@inproceedings{yoon2024langbridge,
  title     = {LangBridge: Multilingual Reasoning Without Multilingual Supervision},
  author    = {Yoon and others},
  booktitle = {ACL 2024},
  year      = {2024}
}"""


def bridge_folder(name: str | Path, *, revision: str | None = None) -> Path:
    """A local folder holding the bridge: `name` itself, or the files of Hub repo `name` at `revision`
    (downloaded into the Hub cache). A name whose parent folder exists here (`runs/sib20` beside
    `runs/sib200`) is a mistyped local path, never sent to the Hub."""
    path = Path(name)
    if path.exists() or not REPO_ID.match(str(name)):
        if revision is not None:
            raise ConfigError(f"revision={revision!r} is for Hub repo ids; {name} is a local folder")
        return path
    if path.parent.is_dir():
        raise ConfigError(f"{name}: no such folder (there is a folder {path.parent}, so this is read as a local path, "
                          f"not a Hub repo id){_nearby_bridges(path)}")
    from huggingface_hub import hf_hub_download

    try:
        files = [hf_hub_download(str(name), filename, revision=revision) for filename in (CONFIG_NAME, WEIGHTS_NAME)]
    except Exception as err:  # offline, no such repo or file, no access: huggingface_hub's errors and OSError
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ConfigError(f"{name}: not a local folder, and the Hub repo {name!r} could not be read "
                          f"({type(err).__name__}: {first}). A saved bridge is a folder holding {CONFIG_NAME} and "
                          f"{WEIGHTS_NAME}.") from err
    try:  # the decoding settings it was tuned with, when it was saved with them: beside the config
        hf_hub_download(str(name), GENERATION_CONFIG_NAME, revision=revision)
    except Exception:  # noqa: BLE001  (no such file: a bridge saved without them, the defaults apply)
        pass
    return Path(files[0]).parent


def _nearby_bridges(path: Path) -> str:
    """'; did you mean ...?' with the saved bridges beside `path` whose names are close to its name."""
    import difflib

    saved = [p.name for p in path.parent.iterdir() if (p / CONFIG_NAME).is_file()]
    close = difflib.get_close_matches(path.name, saved, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(str(path.parent / c) for c in close)}?" if close else ""


def model_card(bridge, run_dir: Path | None) -> str:
    """The README.md of a pushed bridge: what it bridges, how it was trained, what it scores."""
    from huggingface_hub import ModelCard, ModelCardData

    cfg = bridge.config
    summary = _read_json(run_dir / "train_summary.json") if run_dir else None
    results = _latest_results(run_dir) if run_dir else None
    data = ModelCardData(library_name="layerbridge", license="other", tags=["layerbridge", "multilingual"],
                         base_model=[m for m in (cfg.encoder, cfg.llm) if REPO_ID.match(m)] or None)
    lines = [f"# layerbridge bridge: {cfg.encoder} -> {cfg.llm}", "",
             "A trained bridge (fusion of all the encoder's layers + projector) that lets the English-centric LLM read "
             "the multilingual encoder. Only the bridge's weights are here; the base models are loaded from their names.",
             "", "```python", "from layerbridge import LayerBridge", "bridge = LayerBridge.from_pretrained(\"REPO_ID\")",
             "```", "", "## Base models", "", "| role | model | weights |", "|---|---|---|",
             f"| encoder | `{cfg.encoder}` | `{cfg.encoder_weights or 'not recorded'}` |",
             f"| LLM | `{cfg.llm}` | `{cfg.llm_weights or 'not recorded'}` |", "",
             "Loading checks the fingerprints: other base weights warn (`strict_base_models=True`: error).", "",
             "## Settings", "", "| setting | value |", "|---|---|"]
    for key in ("fusion", "fusion_options", "layers", "normalize", "projector", "projector_options", "injection",
                "injection_options", "llm_input", "instruction", "max_encoder_length", "encoder_prefix"):
        lines.append(f"| {key} | `{json.dumps(getattr(cfg, key), ensure_ascii=False)}` |")
    if summary:
        lines += ["", "## Training", "",
                  f"Task `{summary.get('task')}` (English only), {summary.get('train_examples')} training examples, "
                  f"{summary.get('steps')} steps, precision {summary.get('mixed_precision')}, "
                  f"{summary.get('trainable_parameters'):,} trainable parameters.{_objective_line(summary)}"
                  f"{_kept_line(summary)}"]
    if cfg.init_from:  # two-stage training (training/init_from.py)
        lines += ["", "## Two-stage training", "", f"Trained from the weights of the bridge `{cfg.init_from['bridge']}` "
                  f"(its bridge.safetensors sha256 `{cfg.init_from['sha256']}`), not from scratch."]
    lines += card_lines(cfg)  # the tasks whose data it saw (bridge/lineage.py)
    if results:
        metric, per_lang = results
        lines += ["", f"## Results ({metric}, zero-shot per language)", "", "| language | " + metric + " |", "|---|---:|"]
        lines += [f"| {lang} | {100 * value:.1f} |" if metric == "accuracy" else f"| {lang} | {value:.1f} |"
                  for lang, value in per_lang.items()]
    lines += ["", "## Citation", "", "```bibtex", PAPER, "```", ""]
    return str(ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines)))


def push_bridge(bridge, repo_id: str, *, private: bool = False, revision: str | None = None,
                run_dir: str | Path | None = None, token: str | None = None) -> str:
    """Upload bridge.safetensors, bridge_config.json (generation_config.json, when saved) and README.md
    to `repo_id` (created if needed; `revision`: a branch, created if needed). Nothing of the frozen models is uploaded."""
    from huggingface_hub import HfApi

    if not REPO_ID.match(repo_id):
        raise ConfigError(f"{repo_id!r} is not a Hub repo id (user/name)")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    if revision is not None:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="layerbridge-push-") as tmp:
        folder = Path(tmp)
        bridge.save_pretrained(folder)
        (folder / CARD_NAME).write_text(model_card(bridge, Path(run_dir) if run_dir else None)
                                        .replace("REPO_ID", repo_id), encoding="utf-8")
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision,
                                 allow_patterns=[WEIGHTS_NAME, CONFIG_NAME, GENERATION_CONFIG_NAME, CARD_NAME],
                                 commit_message=f"layerbridge: {bridge.config.fusion} bridge {bridge.config.encoder} -> "
                                                f"{bridge.config.llm}")
    return str(getattr(info, "commit_url", info))


def _objective_line(summary: dict) -> str:
    """The English-only objective and token dropout it trained with, when not plain restating."""
    said = []
    if summary.get("objective", "restate") != "restate":
        said.append(f"objective `{summary['objective']}` ({summary.get('continuation_split')} training texts cut in "
                    f"two: the encoder read the first part, the LLM wrote the rest; "
                    f"{summary.get('continuation_restated')} too short, restated)")
    if summary.get("encoder_token_dropout"):
        said.append(f"encoder token dropout {summary['encoder_token_dropout']:g} (training only)")
    return " Trained with " + " and ".join(said) + "." if said else ""


def _kept_line(summary: dict) -> str:
    """Which step's weights these are when the run kept its best dev ones (English, or the mean over
    --dev-languages), and an early stop."""
    if "best_step" not in summary:
        return ""
    score = next((f"{key} {summary[key]:g}" for key in ("dev_accuracy", "dev_chrf") if summary.get(key) is not None), "")
    stop = summary.get("stopped_early")
    dev = (f"dev score (the mean over the dev set read in {', '.join(summary['dev_languages'])})"
           if summary.get("dev_languages") else "English dev score")
    stopped = (f"; training stopped early at step {stop['step']} of {stop['max_steps']} after {stop['patience']} "
               "dev scores no better" if stop else "")
    return f" The weights are those of step {summary['best_step']}, the best {dev} ({score}){stopped}."


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _latest_results(run_dir: Path) -> tuple[str, dict[str, float]] | None:
    """(metric, {language: value}) of the run's newest evaluation folder (eval-*/results.json)."""
    found = sorted(run_dir.glob("eval-*/results.json"), key=lambda p: p.stat().st_mtime)
    document = _read_json(found[-1]) if found else None
    if not document:
        return None
    languages = document.get("languages", {})
    metric = "accuracy" if all("accuracy" in r for r in languages.values()) else "chrf"
    return metric, {lang: r[metric] for lang, r in languages.items() if metric in r}
