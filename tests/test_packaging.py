"""The wheel of a plain ``pip install .`` holds every module, the zoo hook and the hyperparameter files."""

import configparser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch as th

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


def extras_closure(extras: set[str]) -> set[str]:
    """:return: the requirements (lower case, without versions) that ``pip install ".[extras]"`` brings from setup.cfg"""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = {
        name: [line for line in value.splitlines() if line.strip() and not line.startswith("#")]
        for name, value in [("", config["options"]["install_requires"]), *config["options.extras_require"].items()]
    }
    names, todo = set(), ["", *extras]
    while todo:
        for requirement in declared[todo.pop()]:
            name = re.split(r"[<>=!~ ]", requirement.strip())[0].lower()
            if name.startswith("sb3-tecrl["):
                todo.extend(name[len("sb3-tecrl[") : -1].split(","))
            else:
                names.add(name)
    return names


def brought_by_install_line_above(text: str, command: str) -> set[str]:
    """:return: what the last ``pip install .`` line of a page above ``command`` brings"""
    above = text[: text.index(command)]
    install_line = re.findall(r"pip install -?e? ?\"?\.(\[[a-z,]+\])?", above)[-1]
    return extras_closure(set(install_line.strip("[]").split(",")) - {""})


@pytest.mark.parametrize(
    "page, command, needs",
    [
        ("README.md", "python -m sb3_tecrl.demo", {"stable-baselines3", "tqdm", "rich"}),
        (
            "README.md",
            "python -m pytest -q",
            {"pytest", "pytest-xdist", "sb3-contrib", "gymnasium[mujoco]", "tensorboard", "rliable"},
        ),
        ("README.md", "python -m rl_zoo3.train --algo dsace --env Pendulum-v1 ", {"rl-zoo3"}),
        ("README.md", "python -m sphinx", {"sphinx", "furo"}),
        (
            "docs/guide/install.rst",
            "python -m pytest -q",
            {"pytest", "pytest-xdist", "sb3-contrib", "gymnasium[mujoco]", "tensorboard"},
        ),
        ("docs/guide/install.rst", "python -m sphinx", {"sphinx", "furo"}),
        ("docs/guide/quickstart.rst", "python -m sb3_tecrl.demo", {"stable-baselines3", "tqdm", "rich"}),
        ("docs/guide/quickstart.rst", "python -m rl_zoo3.train", {"rl-zoo3"}),
        ("docs/guide/rl_zoo.rst", "python -m rl_zoo3.train --algo dsace --env Pendulum-v1 ", {"rl-zoo3"}),
        ("docs/guide/rl_zoo.rst", "python -m rl_zoo3.record_video", {"moviepy", "gymnasium[classic-control]"}),
        ("docs/guide/rl_zoo.rst", "--env Ant-v3", {"gymnasium[mujoco]"}),
        ("docs/guide/rl_zoo.rst", "--env HalfCheetah-v4", {"gymnasium[mujoco]"}),
        ("docs/guide/rl_zoo.rst", "-optimize", {"optuna"}),
        ("docs/guide/regimes.rst", "--algo dsace_paper --env Ant-v3", {"rl-zoo3", "gymnasium[mujoco]"}),
        ("docs/benchmarks/learning.rst", "python -m benchmarks.learning run", {"gymnasium[mujoco]", "rliable", "sb3-contrib"}),
    ],
)
def test_documented_commands_follow_an_install_line_that_brings_what_they_need(page, command, needs):
    assert needs <= brought_by_install_line_above((ROOT / page).read_text(), command)


def test_drop_in_page_names_the_extra_that_brings_tensorboard():
    text = (ROOT / "docs" / "guide" / "drop_in.rst").read_text()
    extra = re.search(r"``tensorboard_log=`` needs\s+``pip install \"\.\[([a-z]+)\]\"``", text)
    assert extra is not None and "tensorboard" in extras_closure({extra.group(1)})


def test_each_pytest_xdist_worker_runs_one_torch_thread():
    """README's test command runs one process per core (``-n auto``); two threads per process would thrash."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("not run by a pytest-xdist worker")
    assert th.get_num_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"
