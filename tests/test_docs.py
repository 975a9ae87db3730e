"""The Python examples of README.md and the docs run as shown; only the training budget is capped, around ``learn``."""

import re
import textwrap
from pathlib import Path

import pytest

from sb3_tecrl import DSACE

ROOT = Path(__file__).resolve().parent.parent
# environment steps an example's learn() runs at most: past the examples' warm-ups of 100 steps, so gradient steps run
MAX_STEPS = 300


def python_examples(path: Path) -> list[str]:
    """:return: the Python code blocks of a Markdown (```python) or reStructuredText (.. code-block:: python) page"""
    text = path.read_text()
    if path.suffix == ".md":
        return re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    blocks = re.findall(r"^\.\. code(?:-block)?:: python\n\n((?:[ \t]+.*\n|\n)+)", text, re.MULTILINE)
    return [textwrap.dedent(block) for block in blocks]


PAGES = [ROOT / "README.md", *sorted(path for path in (ROOT / "docs").rglob("*.rst") if "_build" not in path.parts)]
EXAMPLES = [
    pytest.param(code, id=f"{page.relative_to(ROOT)}#{index}")
    for page in PAGES
    for index, code in enumerate(python_examples(page))
]


def test_every_page_with_an_example_is_found():
    pages = {example.id.split("#")[0] for example in EXAMPLES}
    assert {"README.md", "docs/guide/quickstart.rst", "docs/modules/dsace.rst", "docs/modules/dsact.rst"} <= pages
    assert "docs/guide/regimes.rst" in pages


@pytest.fixture
def capped_learn(monkeypatch) -> list[int]:
    """:return: the budgets the example asked ``learn`` for (each run with at most ``MAX_STEPS``)"""
    learn, budgets = DSACE.learn, []

    def capped(self, total_timesteps, *args, **kwargs):
        budgets.append(int(total_timesteps))
        return learn(self, min(int(total_timesteps), MAX_STEPS), *args, **kwargs)

    monkeypatch.setattr(DSACE, "learn", capped)
    return budgets


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs_as_shown(code, capped_learn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples save their models to the working directory
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, "<example>", "exec"), namespace)
    if ".learn(" in code:
        assert capped_learn and all(budget > MAX_STEPS for budget in capped_learn)  # the budget shown is a real one
        model = next(value for value in namespace.values() if isinstance(value, DSACE))
        assert model.num_timesteps == MAX_STEPS
        assert model._n_updates > 0 or model.learning_starts >= MAX_STEPS
