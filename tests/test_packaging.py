"""The wheel of a plain ``pip install .`` holds every module, the zoo hook and the hyperparameter files."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contents(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("sb3_tecrl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / "sb3_tecrl").rglob("*.py")}
    assert modules <= names, modules - names
    assert {"sb3_tecrl_zoo.pth", "sb3_tecrl/hyperparams/dsace.yml", "sb3_tecrl/hyperparams/dsact.yml"} <= names
    record = next(name for name in names if name.endswith("dist-info/RECORD"))
    assert "sb3_tecrl_zoo.pth," in zipfile.ZipFile(wheel).read(record).decode()  # so that uninstall removes it
