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

With `directory`, the states go instead to one file in a folder under it (deleted with the
cache), written once per text and read back per batch with plain reads: the operating system's
page cache holds them, not the process (so they never count in its resident memory, unlike a
memory map) and drops them under memory pressure, so a cache larger than free RAM costs disk
reads, not resident memory.

On several processes the file is shared by the processes of one host: the host's first process
creates the folder, `fill` reserves the whole file there before training (one free-space check,
for the bytes of every text the run will read: a disk too small stops the run before its first
step, naming the folder and the bytes), and each process encodes its share of the planned pages
into it; all of them then read it. Disk and encoding are O(dataset), not O(processes x dataset).
The folder holds `owner.json` (host, pid of its creator): a folder left by a run that died
(SIGKILL, OOM) is removed at the next start on that host; on SIGTERM the creator removes it
before dying (the previous handler, or the default action, runs after).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import weakref
from pathlib import Path

import torch
import torch.distributed as dist

from layerbridge.errors import ConfigError, LayerbridgeError


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


PREFIX = "layerbridge-encoder-cache-"
OWNER_NAME = "owner.json"  # {"host", "pid"} of the process that created the folder (and removes it)
_OWNED: set[str] = set()  # cache folders this process created and has not removed yet
_PREVIOUS_SIGTERM: list = []  # the SIGTERM handler before ours (set once ours is installed)


def _remove(file, folder: Path | None) -> None:
    file.close()
    if folder is not None:  # the owner's copy: removes the folder
        _OWNED.discard(str(folder))
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid) -> bool:
    """Whether process `pid` runs on this host (unknown: alive, so nothing live is removed)."""
    if not isinstance(pid, int) or pid <= 0 or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def remove_stale(directory: str | Path) -> list[Path]:
    """Remove the cache folders under `directory` whose creator on this host is dead (killed by
    SIGKILL or the OOM killer, which no handler sees); folders of live runs and of other hosts stay."""
    host, removed = socket.gethostname(), []
    for folder in Path(directory).glob(PREFIX + "*"):
        try:
            owner = json.loads((folder / OWNER_NAME).read_text())
        except (OSError, ValueError):  # no marker: not ours, or still being created
            continue
        if owner.get("host") != host or str(folder) in _OWNED:
            continue
        if owner.get("pid") == os.getpid() or not _alive(owner.get("pid")):  # our pid, not our folder: reused
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _on_sigterm(signum, frame) -> None:
    """Remove this process's cache folders, then let the previous handler (or the default: die) act."""
    for folder in list(_OWNED):
        shutil.rmtree(folder, ignore_errors=True)
        _OWNED.discard(folder)
    previous = _PREVIOUS_SIGTERM[0] if _PREVIOUS_SIGTERM else signal.SIG_DFL
    previous = signal.SIG_DFL if previous is None else previous
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        os.kill(os.getpid(), signum)


def _watch_sigterm() -> None:
    """Install `_on_sigterm` once (only the main thread may set handlers; elsewhere the next start
    removes what a kill leaves)."""
    if _PREVIOUS_SIGTERM or threading.current_thread() is not threading.main_thread():
        return
    _PREVIOUS_SIGTERM.append(signal.getsignal(signal.SIGTERM))
    signal.signal(signal.SIGTERM, _on_sigterm)


def _create_folder(directory: Path) -> Path:
    """A new cache folder under `directory` with its owner marker and an empty states file."""
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale(directory)
    host = socket.gethostname()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{re.sub(r'[^A-Za-z0-9_.-]+', '-', host)}-{os.getpid()}-",
                                   dir=directory))
    _OWNED.add(str(folder))
    _watch_sigterm()
    (folder / OWNER_NAME).write_text(json.dumps({"host": host, "pid": os.getpid()}))
    (folder / "states.bin").touch()
    return folder


def _all(value) -> list:
    """`value` of every process, in rank order (one process: [value])."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [value]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def _agree(error: str | None) -> None:
    """Every process raises the first process's error, if any has one (none waits forever)."""
    errors = [e for e in _all(error) if e is not None]
    if errors:
        raise ConfigError(errors[0])


def _host_group() -> tuple[int, int, int]:
    """(rank of this host's first process, this process's index among its host's, their number)."""
    hosts = _all(socket.gethostname())
    rank = dist.get_rank() if len(hosts) > 1 else 0
    mine = [r for r, h in enumerate(hosts) if h == hosts[rank]]
    return mine[0], mine.index(rank), len(mine)


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
        self.local_rank, self.local_processes = 0, 1  # this process among its host's (who share the file)
        self.offsets: dict[str, tuple[int, int]] = {}  # `fill`: text -> (byte offset, tokens) reserved in the file
        if directory is not None:
            self._open_file(Path(directory))
        self.index: dict[str, tuple[int, int, int]] = {}  # text -> (slab, first token, tokens); slab -1: file offset
        self.slabs: list[torch.Tensor] = []  # in memory: each (T, L, D) in self.dtype, filled front to back
        self.used = 0  # tokens filled in the last slab
        self.file_bytes = 0  # on disk: bytes written to the states file
        self.hits = self.misses = 0
        self.encoded = 0  # texts this process encoded
        self.page_of: dict[str, list[str]] = {}  # text -> the texts computed together with it (`plan`)
        self.pages: list[list[str]] = []  # `plan`'s pages, in order
        self.length_of: dict[str, int] = {}  # text -> its tokens (`plan`)

    def _open_file(self, directory: Path) -> None:
        """The states file: created by the host's first process (stale folders of dead runs removed
        first), opened by the others of the host. Every process of the run calls this."""
        leader, self.local_rank, self.local_processes = _host_group()
        folder, error = None, None
        if self.local_rank == 0:
            try:
                folder = _create_folder(directory)
            except OSError as err:
                error = str(err)
        folder = _all(str(folder) if folder else None)[leader]
        if folder is not None:
            self.folder = Path(folder)
            try:
                self.file = open(self.folder / "states.bin", "r+b", buffering=0)  # noqa: SIM115 (closed by finalize)
            except OSError as err:
                error = error or str(err)
        owned = self.folder if self.local_rank == 0 else None
        if self.file is not None:
            weakref.finalize(self, _remove, self.file, owned)
        elif owned is not None:
            _OWNED.discard(str(owned))
            shutil.rmtree(owned, ignore_errors=True)
        try:
            _agree(error)
        except ConfigError as err:
            raise ConfigError(f"--encoder-cache-dir {directory}: cannot create the cache there ({err})") from None

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
        if text in self.offsets:  # its place in the file, reserved by `fill`
            offset, tokens = self.offsets[text]
            if tokens != n:
                raise ConfigError(f"the encoder cache reserved {tokens} tokens for a text that encodes to {n}")
            self._write(offset, row)
            self.index[text] = (-1, offset, n)
            return
        if self.file is not None and not self.offsets and self.local_processes == 1:  # appended, unplanned
            self.index[text] = (-1, self.file_bytes, n)
            self.file_bytes += self._write(self.file_bytes, row)
            return
        if not self.slabs or self.used + n > self.slabs[-1].shape[0]:
            tokens = max(n, SLAB_BYTES // self.bytes_per_token())
            self.slabs.append(torch.empty((tokens, *row.shape[1:]), dtype=self.dtype))
            self.used = 0
        self.slabs[-1][self.used : self.used + n] = row
        self.index[text] = (len(self.slabs) - 1, self.used, n)
        self.used += n

    def _write(self, offset: int, row: torch.Tensor) -> int:
        """Write one text's states at `offset` of the states file: the bytes written."""
        data, written = memoryview(row.contiguous().view(torch.uint8).numpy()).cast("B"), 0
        try:
            self.file.seek(offset)
            while written < len(data):  # an unbuffered write may write less than asked
                written += self.file.write(data[written:])
        except OSError as err:
            raise ConfigError(f"the encoder cache could not write {len(data):,} bytes at byte {offset:,} of "
                              f"{self.folder / 'states.bin'} ({err}); pick another --encoder-cache-dir or pass "
                              "--no-encoder-cache") from err
        return written

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
        free = shutil.disk_usage(self.folder).free + self.file_bytes if self.folder is not None else None
        if free is not None and need > free:  # (what the file already holds is free for it)
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
        self.length_of.update(zip(texts, token_lengths))
        for start in range(0, len(unique), page_size):
            page = unique[start : start + page_size]
            self.pages.append(page)
            for text in page:
                self.page_of[text] = page

    def fill(self, texts: list[str]) -> int:
        """In a file cache, before training, on every process: reserve in the shared file the place
        of every planned page holding one of `texts` (the texts the run will read), then encode this
        process's share of those pages (strided over the host's processes) into it. A disk that
        cannot hold them stops every process here, naming the folder and the bytes. Texts the plan
        does not hold are kept in RAM when first asked for. Returns the file's bytes."""
        if self.file is None:  # in RAM: filled as the steps ask
            return 0
        wanted = set(texts)
        pages = [page for page in self.pages if any(t in wanted for t in page)]
        end, width = 0, self.bytes_per_token()
        for page in pages:
            for text in page:
                self.offsets[text] = (end, self.length_of[text])
                end += self.length_of[text] * width
        _agree(self._reserve(end) if self.local_rank == 0 else None)
        error = None
        try:
            for page in pages[self.local_rank :: self.local_processes]:
                self._compute(page)
        except (OSError, LayerbridgeError) as err:
            error = str(err)
        _agree(error)  # every process has written its share: all of the file can be read
        for text, (offset, tokens) in self.offsets.items():
            self.index[text] = (-1, offset, tokens)
        self.file_bytes = end
        return end

    def _reserve(self, nbytes: int) -> str | None:
        """Reserve `nbytes` for the states file (the host's first process): None, or why it cannot."""
        free = shutil.disk_usage(self.folder).free
        short = (f"the encoder cache needs {nbytes:,} bytes ({nbytes / 2**30:.2f} GiB) in {self.folder} but {{}}; "
                 "pick another --encoder-cache-dir (or free space there), or pass --no-encoder-cache")
        if nbytes > free:
            return short.format(f"only {free:,} bytes are free")
        try:
            if nbytes and hasattr(os, "posix_fallocate"):
                try:
                    os.posix_fallocate(self.file.fileno(), 0, nbytes)  # the blocks are ours: no ENOSPC later
                except OSError as err:
                    if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                        raise
                    self.file.truncate(nbytes)  # a filesystem without it: sized, not reserved
            else:
                self.file.truncate(nbytes)
        except OSError as err:
            return short.format(f"reserving them failed ({err})")
        return None

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
            self.encoded += len(missing)
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
