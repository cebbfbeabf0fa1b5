"""Cache of the frozen encoder's hidden states (all fused layers), computed once per text.

A frozen encoder in eval mode is a pure function of its input, so re-running it every epoch (as
the authors' pipeline does) is wasted work. States are kept in memory in the dtype the run computes
in (`precision.cache_dtype`: bf16 under bf16 autocast, else float32; fp16 is refused, its range is
too small for T5-family encoders), only for real tokens: (S_i, L, D) per text, packed back to back into large slabs. One tensor per text
would cost ~17% more than the states themselves (allocator overhead and fragmentation, measured
in benchmarks/); slabs cost at most one partly filled slab, and go back to the OS when freed.
In memory, the cache refuses to start when its estimated size exceeds its bound, with a message
saying how to raise the bound or switch the cache off (the training recipe instead moves a cache
over the bound to a file, below).

With `directory`, the states go instead to one file in a private folder under it (deleted with the
cache), written once per text and read back per batch with plain reads: the operating system's
page cache holds them, not the process (so they never count in its resident memory, unlike a
memory map) and drops them under memory pressure, so a cache larger than free RAM costs disk
reads, not resident memory.
"""

from __future__ import annotations

import ctypes
import shutil
import tempfile
import weakref
from pathlib import Path

import torch

from layerbridge.errors import ConfigError


SLAB_BYTES = 64 * 2**20  # one allocation holds this much of the cache


def bytes_per_token(bridge, dtype: torch.dtype) -> int:
    """What one encoder token's states (every fused layer) take in the cache."""
    return len(bridge.layer_indices) * bridge.config.encoder_hidden_size * torch.finfo(dtype).bits // 8


def return_freed_memory() -> None:
    """Hand the C allocator's free pages back to the OS (glibc's malloc_trim; elsewhere nothing).
    Encoding a page of texts frees its activations in chunks that the training steps after it do
    not all reuse, so they stayed resident: with a last-layer cache of the XNLI English texts in a
    file (fp32), 1.20 GiB resident after filling it and 2.40 at the training peak; trimmed after
    each page, 0.97 and 2.28-2.36 (two runs of benchmarks/authors_memory.py's arm)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to call
        return None


_MALLOC_TRIM = _malloc_trim()


def _remove(file, folder: Path) -> None:
    file.close()
    shutil.rmtree(folder, ignore_errors=True)


class EncoderStateCache:
    def __init__(self, bridge, *, max_gb: float = 4.0, dtype: torch.dtype = torch.float32,
                 directory: str | Path | None = None):
        if not bridge.config.freeze_encoder:
            raise ConfigError("the encoder cache needs a frozen encoder (it is unfrozen); use --no-encoder-cache")
        if dtype not in (torch.float32, torch.bfloat16):
            raise ConfigError(f"the encoder cache holds float32 or bfloat16 states, not {dtype} (fp16 overflows "
                              "on T5-family encoders' hidden states)")
        self.bridge, self.max_bytes, self.dtype = bridge, int(max_gb * 2**30), dtype
        self.folder = self.file = None  # the states file lives here (None: in memory)
        if directory is not None:
            try:
                Path(directory).mkdir(parents=True, exist_ok=True)
                self.folder = Path(tempfile.mkdtemp(prefix="layerbridge-encoder-cache-", dir=directory))
                self.file = open(self.folder / "states.bin", "w+b", buffering=0)  # noqa: SIM115 (closed by finalize)
            except OSError as err:
                raise ConfigError(f"--encoder-cache-dir {directory}: cannot create the cache there ({err})") from err
            weakref.finalize(self, _remove, self.file, self.folder)
        self.index: dict[str, tuple[int, int, int]] = {}  # text -> (slab, first token, tokens); slab -1: file offset
        self.slabs: list[torch.Tensor] = []  # in memory: each (T, L, D) in self.dtype, filled front to back
        self.used = 0  # tokens filled in the last slab
        self.file_bytes = 0  # on disk: bytes written to the states file
        self.hits = self.misses = 0
        self.page_of: dict[str, list[str]] = {}  # text -> the texts computed together with it (`plan`)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cache's slabs, or written to its file."""
        return sum(slab.nbytes for slab in self.slabs) + self.file_bytes

    def _put(self, text: str, row: torch.Tensor) -> None:
        """Store one text's states (S_i, L, D) at the end of the last slab (a new slab if full),
        or at the end of the states file."""
        n = row.shape[0]
        if self.file is not None:
            data, written = memoryview(row.contiguous().view(torch.uint8).numpy()).cast("B"), 0
            self.file.seek(self.file_bytes)
            while written < len(data):  # an unbuffered write may write less than asked
                written += self.file.write(data[written:])
            self.index[text] = (-1, self.file_bytes, n)
            self.file_bytes += written
            return
        if not self.slabs or self.used + n > self.slabs[-1].shape[0]:
            tokens = max(n, SLAB_BYTES // self.bytes_per_token())
            self.slabs.append(torch.empty((tokens, *row.shape[1:]), dtype=self.dtype))
            self.used = 0
        self.slabs[-1][self.used : self.used + n] = row
        self.index[text] = (len(self.slabs) - 1, self.used, n)
        self.used += n

    def _get(self, text: str) -> torch.Tensor:
        slab, start, n = self.index[text]
        if slab >= 0:
            return self.slabs[slab][start : start + n]  # a view, (S_i, L, D)
        buffer = bytearray(n * self.bytes_per_token())
        if not buffer:
            return torch.empty(0, len(self.bridge.layer_indices), self.bridge.config.encoder_hidden_size, dtype=self.dtype)
        self.file.seek(start)
        if self.file.readinto(buffer) != len(buffer):
            raise OSError(f"the encoder cache file {self.folder / 'states.bin'} is shorter than what was written to it")
        return torch.frombuffer(buffer, dtype=self.dtype).view(n, -1, self.bridge.config.encoder_hidden_size)

    def bytes_per_token(self) -> int:
        return bytes_per_token(self.bridge, self.dtype)

    def check_fits(self, token_lengths: list[int]) -> int:
        """Estimated bytes for texts of these token lengths; a ConfigError when an in-memory cache
        would exceed its bound, or a file the free disk space."""
        tokens = sum(token_lengths)
        need = tokens * self.bytes_per_token()
        if self.file is None and need > self.max_bytes:
            raise ConfigError(
                f"the encoder cache would need {need / 2**30:.2f} GiB for {len(token_lengths)} texts "
                f"({tokens:,} tokens x {self.bytes_per_token():,} bytes) but is bounded at "
                f"{self.max_bytes / 2**30:.2f} GiB; raise --encoder-cache-gb, keep it on disk with "
                "--encoder-cache-dir, or pass --no-encoder-cache"
            )
        free = shutil.disk_usage(self.folder).free if self.folder is not None else None
        if free is not None and need > free:
            raise ConfigError(f"the encoder cache would need {need / 2**30:.2f} GiB but {self.folder} has only "
                              f"{free / 2**30:.2f} GiB free; pick another --encoder-cache-dir or pass --no-encoder-cache")
        return need

    def plan(self, texts: list[str], token_lengths: list[int], page_size: int = 32) -> None:
        """Fix which texts are encoded together: pages of `page_size` texts of similar length. A
        missing text is then computed with its whole page, so its states do not depend on the
        batch that first asked for it (float32 results differ by ~1e-8 with batch composition):
        a resumed run, or a run on several processes, trains on exactly the same states."""
        order = sorted(range(len(texts)), key=lambda i: (token_lengths[i], i))
        unique = list(dict.fromkeys(texts[i] for i in order))
        for start in range(0, len(unique), page_size):
            page = unique[start : start + page_size]
            for text in page:
                self.page_of[text] = page

    @torch.no_grad()
    def states(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(states (B, S, L, D) in the bridge's dtype, right-padded; mask (B, S))."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.index))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        for page in dict.fromkeys(tuple(self.page_of[t]) for t in missing if t in self.page_of):
            self._compute([t for t in page if t not in self.index])
        self._compute([t for t in missing if t not in self.page_of])  # texts outside the plan: one batch
        return self._assemble([self._get(t) for t in texts])

    def _compute(self, missing: list[str]) -> None:
        """Encode `missing` in one batch and store each text's states."""
        if missing:
            enc = self.bridge.tokenize(missing)
            computed = self.bridge.encoder_states(**enc)  # (b, S, L, D)
            if not torch.isfinite(computed).all():
                raise ConfigError(f"the encoder {self.bridge.config.encoder!r} produced non-finite hidden states "
                                  f"for one of {len(missing)} texts (overflow in its precision); run it in float32 "
                                  "(--mixed-precision no)")
            for text, row, mask in zip(missing, computed, enc["attention_mask"]):
                self._put(text, row[mask.bool()].to(device="cpu", dtype=self.dtype))  # (S_i, L, D)
            del enc, computed
            return_freed_memory()

    def _assemble(self, rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stored rows (S_i, L, D) -> right-padded states (B, S, L, D) in the bridge's dtype, mask (B, S)."""
        S = max(r.shape[0] for r in rows)
        L, D = rows[0].shape[1:]
        device, dtype = self.bridge.device, self.bridge.end_boundary.dtype
        states = torch.zeros(len(rows), S, L, D, dtype=dtype, device=device)
        mask = torch.zeros(len(rows), S, dtype=torch.long, device=device)
        for b, r in enumerate(rows):
            states[b, : r.shape[0]] = r.to(device=device, dtype=dtype)
            mask[b, : r.shape[0]] = 1
        return states, mask
