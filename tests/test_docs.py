"""The documentation site builds with warnings as errors (quick mode: the examples are shown,
not run), so a broken docstring, page or example header fails the suite."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("pydata_sphinx_theme")
pytest.importorskip("sphinx_gallery")

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_without_warnings(tmp_path):
    env = dict(os.environ, DUALAD_DOCS_QUICK="1")
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html")],
        check=False, capture_output=True, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    html = (tmp_path / "html" / "coverage.html").read_text()
    assert "numpy" in html and "absolute" in html  # the table generated from the rule tables
    assert (tmp_path / "html" / "auto_examples" / "index.html").exists()
    assert (tmp_path / "html" / "api.html").read_text().count("dualad.compile") >= 1
