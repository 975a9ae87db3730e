"""
The drop-in audit: SB3's own test suite with ``DSACE`` (or ``DSACT``) in SAC's place.

Takes the tests of the installed stable-baselines3's source distribution (downloaded from the package index with
``pip download``, or a given ``.tar.gz``), makes every test file that imports ``SAC`` from ``stable_baselines3`` import
the chosen class under that name instead, and runs those modules' tests that then exercise it: those parametrized with
it, and those whose body names ``SAC``. Writes a markdown report (counts per file, every failure with its message).

    OMP_NUM_THREADS=1 python -m benchmarks.sb3_suite [--algo DSACE] [--sdist stable_baselines3-2.9.2.tar.gz]
"""

import argparse
import ast
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import stable_baselines3

import sb3_tecrl

ALGOS = ("DSACE", "DSACT")

# Keeps the tests that run the substituted class: parametrized with it, or naming SAC in a body that is not
# parametrized over algorithm classes (a list of classes without SAC does not run it).
CONFTEST = """import inspect

from sb3_tecrl import {algo}


def _runs_the_algorithm(item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(value is {algo} for value in callspec.params.values()):
        return True
    if callspec is not None and any(isinstance(value, type) for value in callspec.params.values()):
        return False
    try:
        return "SAC" in inspect.getsource(item.function)
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(config, items):
    items[:] = [item for item in items if _runs_the_algorithm(item)]
"""


def imports_sac_from_sb3(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "stable_baselines3"
        and any(alias.name == "SAC" and alias.asname is None for alias in node.names)
        for node in tree.body
    )


def substitute_sac(source: str, algo: str) -> str | None:
    """
    The test module's source with ``algo`` bound to the name ``SAC`` after its last top-level import.

    :param source: a test module's source
    :param algo: ``"DSACE"`` or ``"DSACT"``
    :return: the new source, or ``None`` when the module does not import ``SAC`` from ``stable_baselines3``
    """
    tree = ast.parse(source)
    if not imports_sac_from_sb3(tree):
        return None
    last_import = max(node.end_lineno for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))
    lines = source.splitlines(keepends=True)
    line = f"from sb3_tecrl import {algo} as SAC  # the drop-in audit: {algo} in SAC's place\n"
    return "".join([*lines[:last_import], line, *lines[last_import:]])


def download_sdist(directory: Path) -> Path:
    """The installed stable-baselines3's source distribution, from the package index."""
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", str(directory)]
    subprocess.run([*pip, f"stable-baselines3=={stable_baselines3.__version__}"], check=True)
    return next(directory.glob("stable_baselines3-*.tar.gz"))


def extract_tests(sdist: Path, directory: Path) -> Path:
    """Extract the sdist's ``tests/`` folder into ``directory/tests``."""
    tests = directory / "tests"
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if member.isfile() and len(parts) > 2 and parts[1] == "tests":
                target = tests.joinpath(*parts[2:])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.extractfile(member).read())
    return tests


def prepare(tests: Path, algo: str) -> list[str]:
    """Substitute ``algo`` for SAC in every test module that imports it; write the selecting conftest."""
    changed = []
    for module in sorted(tests.glob("test_*.py")):
        new_source = substitute_sac(module.read_text(), algo)
        if new_source is not None:
            module.write_text(new_source)
            changed.append(module.name)
    (tests / "conftest.py").write_text(CONFTEST.format(algo=algo))
    return changed


def outcome_of(case: ET.Element) -> tuple[str, str]:
    """A JUnit test case's outcome and the first line of its message (for an error, with the exception it raised)."""
    for kind, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        element = case.find(kind)
        if element is not None:
            message = (element.get("message") or "").split("\n", 1)[0]
            raised = [line[1:].strip() for line in (element.text or "").splitlines() if line.startswith("E ")]
            return outcome, f"{message}: {raised[-1]}" if outcome == "error" and raised else message
    return "passed", ""


def outcomes(junit_xml: Path) -> list[tuple[str, str, str, str]]:
    """(module, test, outcome, message) of every test case in a JUnit report (a collection error is its module's)."""
    rows = []
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        module = (case.get("classname") or case.get("name", "")).removeprefix("tests.")
        rows.append((module, case.get("name", ""), *outcome_of(case)))
    return rows


def report(rows: list[tuple[str, str, str, str]], algo: str, changed: list[str], seconds: float) -> str:
    totals = Counter(outcome for _, _, outcome, _ in rows)
    per_file: dict[str, Counter] = {}
    for module, _, outcome, _ in rows:
        per_file.setdefault(module, Counter())[outcome] += 1
    lines = [
        f"# SB3's own tests with {algo} in SAC's place",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; stable-baselines3 {stable_baselines3.__version__} (its sdist's "
        f"tests), sb3-tecrl {sb3_tecrl.__version__}, Python {platform.python_version()}, {seconds:.0f} s; command: "
        f"`OMP_NUM_THREADS=1 python -m benchmarks.sb3_suite --algo {algo}`. Modules with {algo} as `SAC`: "
        f"{', '.join(changed)}.",
        "",
        f"**{len(rows)} tests: " + ", ".join(f"{totals[k]} {k}" for k in ("passed", "failed", "error", "skipped")) + "**",
        "",
        "| module | passed | failed | error | skipped |",
        "| --- | --- | --- | --- | --- |",
    ]
    for module, count in sorted(per_file.items()):
        lines.append(f"| {module} | {count['passed']} | {count['failed']} | {count['error']} | {count['skipped']} |")
    problems = [row for row in rows if row[2] != "passed"]
    if problems:
        lines += ["", "| module | test | outcome | message |", "| --- | --- | --- | --- |"]
        lines += [f"| {m} | `{t}` | {o} | {msg.replace('|', '/')[:200]} |" for m, t, o, msg in problems]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=ALGOS, default="DSACE")
    parser.add_argument("--sdist", type=Path, help="stable-baselines3's .tar.gz (default: download the installed version's)")
    parser.add_argument("--out", type=Path, help="the report (default: benchmarks/results/sb3_suite_<algo>.md)")
    args = parser.parse_args()
    out = args.out or Path(__file__).parent / "results" / f"sb3_suite_{args.algo.lower()}.md"
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        sdist = args.sdist or download_sdist(directory)
        tests = extract_tests(sdist, directory)
        changed = prepare(tests, args.algo)
        junit = directory / "junit.xml"
        started = datetime.now(timezone.utc)
        subprocess.run(
            [sys.executable, "-m", "pytest", *[f"tests/{name}" for name in changed], "-q", "-p", "no:cacheprovider",
             "-W", "ignore", "-o", "addopts=", "--continue-on-collection-errors", f"--junitxml={junit}"],
            cwd=directory, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        )  # fmt: skip
        seconds = (datetime.now(timezone.utc) - started).total_seconds()
        text = report(outcomes(junit), args.algo, changed, seconds)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
