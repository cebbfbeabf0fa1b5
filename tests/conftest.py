import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import save_tiny_models, save_tiny_news, tiny_encoder, tiny_llm, tiny_tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared offline data (tests only): LAYERBRIDGE_DATA_DIR or ../shared/data beside the repo."""
    path = Path(os.environ.get("LAYERBRIDGE_DATA_DIR", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"no data folder at {path}")
    return path


@pytest.fixture
def tiny_parts():
    """(encoder, encoder_tokenizer, llm, llm_tokenizer), freshly built each time."""
    return tiny_encoder(), tiny_tokenizer("encoder"), tiny_llm(), tiny_tokenizer("llm")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(folder, encoder, llm, task file): the tiny models and the tiny news task saved once per test module
    (a module needing another task defines its own `tiny`)."""
    root = tmp_path_factory.mktemp("tiny")
    enc, llm = save_tiny_models(root)
    return root, enc, llm, save_tiny_news(root)
