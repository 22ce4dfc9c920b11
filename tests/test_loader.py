from __future__ import annotations

import hashlib

from autograder.loader import load_notebook
from conftest import grader_test_cell


def test_load_notebook_runs_code_cells_and_skips_test_cells(make_notebook):
    path = make_notebook("x = 1", grader_test_cell("raise RuntimeError('test cells must not run')"), "y = x + 1")
    loaded = load_notebook(path)
    assert loaded.error is None and loaded.problems == []
    assert loaded.namespace["y"] == 2


def test_load_notebook_records_an_exception_and_runs_later_cells(make_notebook):
    path = make_notebook("def f():\n    return 1 / 0\nf()", "z = 3")
    loaded = load_notebook(path)
    assert loaded.namespace["z"] == 3
    [problem] = loaded.problems
    assert problem.cell == 1
    assert "ZeroDivisionError" in problem.message and "code cell 1, line 2: return 1 / 0" in problem.message


def test_load_notebook_stops_an_infinite_loop(make_notebook):
    path = make_notebook("while True:\n    pass", "after = True")
    loaded = load_notebook(path, cell_timeout_s=0.3)
    assert loaded.namespace["after"] is True
    assert "did not finish within its 0.3 s budget" in loaded.problems[0].message


def test_load_notebook_stops_a_loop_that_swallows_exceptions(make_notebook):
    path = make_notebook("while True:\n    try:\n        pass\n    except Exception:\n        pass")
    loaded = load_notebook(path, cell_timeout_s=0.3)
    assert "budget" in loaded.problems[0].message


def test_load_notebook_reports_a_malformed_notebook(tmp_path):
    path = tmp_path / "01_matmul.ipynb"
    path.write_text('{"cells": [', encoding="utf-8")
    loaded = load_notebook(path)
    assert loaded.error and "is not a valid notebook" in loaded.error


def test_load_notebook_reports_a_missing_file(tmp_path):
    assert "no notebook at" in load_notebook(tmp_path / "01_matmul.ipynb").error


def test_load_notebook_never_writes_the_notebook(make_notebook):
    path = make_notebook("x = 1", "raise ValueError('boom')", "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    before, mtime = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    load_notebook(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert path.stat().st_mtime_ns == mtime


def test_load_notebook_skips_magics_but_runs_timed_cell_bodies(make_notebook):
    path = make_notebook("%matplotlib inline\n!pip install nothing\na = 1", "%%time\nb = a + 1")
    loaded = load_notebook(path)
    assert loaded.problems == []
    assert loaded.namespace["b"] == 2


def test_load_notebook_keeps_cell_output_off_the_console(make_notebook, capsys):
    load_notebook(make_notebook("print('hello from the notebook')"))
    assert "hello" not in capsys.readouterr().out
