"""The runtime package passes mypy (its settings: pyproject.toml), and ships its type information;
the training and export toolchain (models, export) passes it too."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_runtime_package_passes_mypy(tmp_path):
    pytest.importorskip("mypy")
    r = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"),
                        "--config-file", str(REPO / "pyproject.toml"), "streamproc"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


# what models/ and export/ import (the train and dev extras): without one, mypy cannot follow it
TOOLCHAIN_IMPORTS = ("torch", "onnx", "music21", "pedalboard", "scipy", "fluidsynth")


def test_toolchain_packages_pass_mypy(tmp_path):
    pytest.importorskip("mypy")
    missing = [m for m in TOOLCHAIN_IMPORTS if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"training extras not installed: {', '.join(missing)}")
    r = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"),
                        "--config-file", str(REPO / "pyproject.toml"), "models", "export"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_py_typed_ships_as_package_data():
    import tomllib

    assert (REPO / "streamproc" / "py.typed").is_file()
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "py.typed" in cfg["tool"]["setuptools"]["package-data"]["streamproc"]
