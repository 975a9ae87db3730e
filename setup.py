"""
Build hooks (everything else is in setup.cfg): ship the RL Zoo import hook ``sb3_tecrl_zoo.pth`` at the root of
site-packages and the hyperparameter files inside the package, for plain and editable installs alike.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = Path(__file__).resolve().parent
PTH_FILE = HERE / "sb3_tecrl" / "zoo" / "sb3_tecrl_zoo.pth"
HYPERPARAMS = sorted((HERE / "hyperparams").glob("*.yml"))


class BuildPyWithZooHook(build_py):
    """build_py that also puts the .pth file at the wheel's root and the hyperparameter files in the package."""

    def run(self) -> None:
        super().run()
        self.copy_file(str(PTH_FILE), str(Path(self.build_lib) / PTH_FILE.name))
        target = Path(self.build_lib) / "sb3_tecrl" / "hyperparams"
        self.mkpath(str(target))
        for path in HYPERPARAMS:
            self.copy_file(str(path), str(target / path.name))


class EditableWheelWithZooHook(editable_wheel):
    """editable_wheel whose wheel also holds the .pth file (the hyperparameters are read from the source tree)."""

    def _run_build_commands(self, dist_name, unpacked_wheel, build_lib, tmp_dir):  # type: ignore[no-untyped-def]
        files, mapping = super()._run_build_commands(dist_name, unpacked_wheel, build_lib, tmp_dir)
        shutil.copy(PTH_FILE, Path(unpacked_wheel) / PTH_FILE.name)
        return files, mapping


setup(cmdclass={"build_py": BuildPyWithZooHook, "editable_wheel": EditableWheelWithZooHook})
