"""Sphinx configuration for dualad's documentation site.

Build:  sphinx-build -W -b html docs docs/_build/html   (then open docs/_build/html/index.html)
Quick:  DUALAD_DOCS_QUICK=1 sphinx-build -W -b html docs /tmp/dualad-docs  (examples shown,
        not run: what the test suite builds)
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import dualad

project = "dualad"
author = "the dualad developers"
copyright = "2026, the dualad developers"
release = version = dualad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",
    "sphinx_gallery.gen_gallery",
]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
exclude_patterns = ["_build", "_generated/*.txt"]
templates_path: list = []

html_theme = "pydata_sphinx_theme"
html_title = "dualad"
html_theme_options = {"navigation_with_keys": False, "show_prev_next": True}
html_static_path: list = []

QUICK = bool(os.environ.get("DUALAD_DOCS_QUICK"))
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    # run the examples with a figure (Agg backend); the quick build shows them unrun
    "filename_pattern": r"/(reverse_table|greeks|ode_sensitivity|optimize|train_mlp)\.py",
    "plot_gallery": "False" if QUICK else "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
}


def _coverage_table(app):
    """docs/_generated/coverage.rst: every function the rule tables know, from the tables."""
    from dualad import coverage

    rows = coverage.report()
    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 22 14 8 8 8 8 32",
        "",
        "   * - function",
        "     - module",
        "     - forward",
        "     - reverse",
        "     - 2nd order",
        "     - complex",
        "     - why not / note",
    ]
    for r in rows:
        reason = " ".join((r.reason or "").split()).replace("*", r"\*").replace("`", "'")
        lines += [
            f"   * - ``{r.name}``",
            f"     - {r.module}",
            f"     - {r.forward}",
            f"     - {r.reverse}",
            f"     - {r.second}",
            f"     - {r.complex}",
            f"     - {reason}",
        ]
    summary = coverage.summary(rows).replace("*", r"\*")
    (out / "coverage.rst").write_text(
        "\n".join(["::", "", *("    " + s for s in summary.splitlines()), "", *lines, ""])
    )


def setup(app):
    app.connect("builder-inited", _coverage_table)
