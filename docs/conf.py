"""Sphinx configuration of the sb3-tecrl documentation (build: ``python -m sphinx -W -b html docs docs/_build/html``)."""

import os
import sys

# autodoc imports the package from this checkout (no install needed to build the docs)
sys.path.insert(0, os.path.abspath(".."))

from sb3_tecrl.version import __version__

project = "sb3-tecrl"
author = "sb3-tecrl contributors"
copyright = "2026, sb3-tecrl contributors"
version = release = __version__

# no intersphinx: it fetches inventories over the network at build time, and the build must work offline
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.viewcode"]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autosummary_generate = False
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"sb3-tecrl {release}"
