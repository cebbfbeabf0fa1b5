"""The wheel a user installs: built from the repository's own files, installed (not editable) into a
fresh virtual environment, and run from there (issue 31, deliverable 3).

The fresh environment gets its dependencies (torch, transformers, ...) from the environment running
the tests without copying or downloading them: a `.pth` file in its site-packages lists this
environment's site-packages folder(s). Python adds a `.pth` file's lines to sys.path but does not read
the `.pth` files inside those folders, so the editable install of layerbridge (itself a `.pth` file
there) is not seen, and the only layerbridge the fresh environment can import is the wheel's. The test
checks that, and runs `layerbridge inspect` on the built-in default models (the model cache,
LAYERBRIDGE_CACHE_DIR, is shared with the other tests, so nothing is converted twice) and
`layerbridge tasks` from the wheel's console script.

Building from a copy of the source in a temporary folder keeps build/ and *.egg-info out of the
repository. With setuptools already installed here the wheel is built without build isolation, so the
check needs no network; otherwise pip fetches the build requirements as `pip install .` would.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "layerbridge"

pytestmark = [pytest.mark.wheel]


def _source_version() -> str:
    """layerbridge/version.py's __version__, read without importing anything."""
    tree = ast.parse((PACKAGE / "version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("src/layerbridge/version.py sets no __version__")


def _package_files() -> set[str]:
    """Every file of src/layerbridge a wheel must hold, as wheel paths (bytecode caches aside)."""
    return {
        p.relative_to(PACKAGE.parent).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }


def _can_build_without_isolation() -> bool:
    """setuptools >= the pyproject's floor is importable here, so the build needs no download."""
    try:
        import setuptools
    except ImportError:
        return False
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    floor = next((r.split(">=")[1] for r in requires if r.replace(" ", "").startswith("setuptools>=")), "0")
    as_tuple = lambda v: tuple(int(x) for x in v.split(".")[:2] if x.isdigit())  # noqa: E731
    return as_tuple(setuptools.__version__) >= as_tuple(floor)


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built with pip from a copy of the repository's package files."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    dist = root / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)]
    if _can_build_without_isolation():
        cmd.insert(4, "--no-build-isolation")
    _run(cmd, _clean_env(), cwd=root)
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {[w.name for w in wheels]}"
    return wheels[0]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(extra)
    return env


def test_wheel_holds_the_package_at_the_source_version(wheel):
    version = _source_version()
    assert wheel.name == f"layerbridge-{version}-py3-none-any.whl"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    # one version, in one place: pyproject reads it from layerbridge/version.py
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "layerbridge.version.__version__"}
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(f"layerbridge-{version}.dist-info/METADATA").decode()
        entry_points = z.read(f"layerbridge-{version}.dist-info/entry_points.txt").decode()
    missing = sorted(_package_files() - names)
    assert not missing, f"files of src/layerbridge missing from the wheel (package data?): {missing}"
    assert f"\nVersion: {version}\n" in metadata
    assert "layerbridge = layerbridge.cli.main:main" in entry_points
    assert not [n for n in names if n.startswith(("tests/", "src/", "build/")) or "__pycache__" in n]


@pytest.mark.real
def test_wheel_installed_in_a_fresh_venv_runs_inspect_and_tasks(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], _clean_env(), cwd=tmp_path)
    python = venv / "bin" / "python"
    new_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         _clean_env(), cwd=tmp_path).strip())
    # this environment's dependencies, without its editable layerbridge (the .pth files there are not read)
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (new_site / "_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--quiet", str(wheel)], _clean_env(), cwd=tmp_path)

    env = _clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                     COLUMNS="200")
    where = _run([str(python), "-c", "import sys, layerbridge, layerbridge.version as v; "
                  "print(layerbridge.__file__); print(v.__version__); print(*sys.path, sep='\\n')"],
                 env, cwd=tmp_path).splitlines()
    assert Path(where[0]) == new_site / "layerbridge" / "__init__.py", where[0]
    assert where[1] == _source_version()
    assert str(REPO / "src") not in where[2:], "the editable install's path leaked into the fresh venv"

    script = venv / "bin" / "layerbridge"
    assert script.is_file()
    assert _run([str(script), "--version"], env, cwd=tmp_path).strip() == f"layerbridge {_source_version()}"
    tasks = _run([str(script), "tasks"], env, cwd=tmp_path)
    for name in ("sib200", "flores_en", "xnli"):
        assert name in tasks
    inspect = _run([str(script), "inspect"], env, cwd=tmp_path, timeout=600)
    for text in ("BertModel", "LlamaForCausalLM", "trainable", "frozen", "fused encoder hidden states"):
        assert text in inspect
    print(f"\n--- layerbridge tasks (wheel, {script}) ---\n{tasks}\n--- layerbridge inspect ---\n{inspect}")
