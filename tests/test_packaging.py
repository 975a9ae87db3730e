"""The wheel of a plain ``pip install .`` holds every module, the zoo hook and the hyperparameter files."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contents(tmp_path):
    # build from a clean copy: a stale build/ folder in the checkout could hide a missing package
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "benchmarks"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("sb3_tecrl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / "sb3_tecrl").rglob("*.py")}
    assert modules <= names, modules - names
    assert {"sb3_tecrl_zoo.pth", "sb3_tecrl/hyperparams/dsace.yml", "sb3_tecrl/hyperparams/dsact.yml"} <= names
    record = next(name for name in names if name.endswith("dist-info/RECORD"))
    assert "sb3_tecrl_zoo.pth," in zipfile.ZipFile(wheel).read(record).decode()  # so that uninstall removes it
