"""The examples run as shipped (README points users at them)."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path, capsys):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()  # every example checks its derivatives itself (check_grad raises)
    assert "False" not in capsys.readouterr().out


def test_there_are_examples():
    assert {p.stem for p in EXAMPLES} >= {"quickstart", "scientific"}
