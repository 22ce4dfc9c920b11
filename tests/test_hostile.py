"""The hostile corpus through every route: CLI, pytest plugin and nbgrader autograde give each case
exactly the points it earned, never crash, and leave every notebook byte-identical."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder.lessons import COURSE_ROOT, LESSONS
from hostile_corpus import CASES, GRADEBOOK, KEY, NBGRADER_SUBSET, OUTSIDE, expected_points

pytestmark = pytest.mark.slow
POINTS = {key: {e.name: e.points for e in lesson.exercises()} for key, lesson in LESSONS.items()}
# Time limits scaled down so that infinite loops are met in seconds (the lesson's checks need ~2 s).
ENV = {**os.environ, "AUTOGRADER_TIME_SCALE": "0.15",
       "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


_expected = expected_points


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """Each case's notebook in a folder of its own (a notebook's file name is its lesson key)."""
    root = tmp_path_factory.mktemp("corpus")
    paths = {}
    for case in CASES:
        folder = root / case.name
        folder.mkdir()
        paths[case.name] = folder / f"{case.key}.ipynb"
        paths[case.name].write_bytes(case.notebook_bytes())
    return paths


def _digests(paths: dict[str, Path]) -> dict[str, str]:
    return {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in paths.items()}


def _assert_grades(route: str, got: dict[str, dict[str, float]], cases=CASES) -> None:
    wrong = {case.name: (got.get(case.name), _expected(case)) for case in cases if got.get(case.name) != _expected(case)}
    assert not wrong, f"{route}: {len(wrong)} wrong grades (got, expected): {json.dumps(wrong, indent=1)}"


# The longest first (under pytest -n auto each test here may run on its own worker).
def test_nbgrader_autograde_grades_the_corpus_exactly(corpus, tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    course.mkdir()
    shutil.copyfile(COURSE_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(COURSE_ROOT / "source" / KEY, course / "source" / KEY)
    full = os.environ.get("AUTOGRADER_FULL_CORPUS") == "1"
    cases = [c for c in CASES if c.nbgrader and c.key == KEY and (full or c.name in NBGRADER_SUBSET)]
    assert len(cases) >= 30 or full
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", KEY, "--force"], cwd=course, env=ENV,
                   check=True, capture_output=True, timeout=300)
    for case in cases:
        folder = course / "submitted" / case.name / KEY
        folder.mkdir(parents=True)
        shutil.copyfile(corpus[case.name], folder / f"{KEY}.ipynb")
    before = _digests({c.name: course / "submitted" / c.name / KEY / f"{KEY}.ipynb" for c in cases})
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", KEY, "--force"], cwd=course, env=ENV,
                          capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for case in cases:
            got[case.name] = {name: gb.find_grade(f"test_{name}", KEY, KEY, case.name).score for name in POINTS[KEY]}
    _assert_grades("nbgrader", got, cases)
    assert not OUTSIDE.exists()
    # nbgrader's own kernel could not import the references either (the line ran there and failed).
    kernel_run = json.loads((course / "autograded" / "import_reference_star" / KEY / f"{KEY}.ipynb").read_text())
    errors = [o.get("ename") for c in kernel_run["cells"] if "from solutions" in "".join(c.get("source", ""))
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and set(errors) <= {"ModuleNotFoundError", "PermissionError"}
    assert _digests({c.name: course / "submitted" / c.name / KEY / f"{KEY}.ipynb" for c in cases}) == before


def test_corpus_is_large_and_covers_every_category():
    assert len(CASES) >= 60 and len({c.name for c in CASES}) == len(CASES)
    assert {c.category for c in CASES} == {"cheat", "crash", "bomb", "broken", "side effect"}


def test_cli_grades_the_corpus_exactly(corpus):
    before = _digests(corpus)
    gradebook = GRADEBOOK.read_bytes() if GRADEBOOK.exists() else None
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", *map(str, corpus.values()), "--json",
                           "--workers", "2"], capture_output=True, text=True, env=ENV, timeout=1500)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    data = json.loads(proc.stdout)  # stdout is the JSON and nothing else, whatever the notebooks print
    got = {Path(lesson["notebook"]).parent.name: {e["name"]: e["points"] for e in lesson["exercises"]}
           for lesson in data["lessons"]}
    _assert_grades("CLI", got)
    assert _digests(corpus) == before
    assert (GRADEBOOK.read_bytes() if GRADEBOOK.exists() else None) == gradebook
    assert not OUTSIDE.exists()


def test_cli_messages_say_what_the_notebook_did(corpus):
    names = ["import_reference_star", "exec_reference_file", "patch_allclose_at_load", "os_exit_in_check",
             "infinite_loop_in_check", "deleted_test_cell", "inspect_stack_sniffing", "thread_left_running_at_load"]
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", *(str(corpus[n]) for n in names), "--json"],
                          capture_output=True, text=True, env=ENV, timeout=900)
    messages = {n: next(e["message"] for e in lesson["exercises"] if e["status"] != "passed")
                for n, lesson in zip(names, json.loads(proc.stdout)["lessons"])}
    assert "tried importing the reference solutions" in messages["import_reference_star"]
    assert "the grader's files are off limits" in messages["exec_reference_file"]
    assert "the notebook replaced torch.allclose" in messages["patch_allclose_at_load"]
    assert "ended its process" in messages["os_exit_in_check"]
    assert "did not finish within its 18 s budget" in messages["infinite_loop_in_check"]
    assert "was deleted" in messages["deleted_test_cell"]
    assert "sys._getframe" in messages["inspect_stack_sniffing"]
    assert "left a thread running" in messages["thread_left_running_at_load"]


def test_pytest_plugin_grades_the_corpus_exactly(corpus, tmp_path):
    before = _digests(corpus)
    report = tmp_path / "report.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", *map(str, corpus.values()), "-p", "no:cacheprovider",
                           "-p", "no:xdist", f"--junitxml={report}", "-o", "junit_family=xunit1", "-q",
                           "--rootdir", str(tmp_path)],
                          capture_output=True, text=True, env=ENV, timeout=1500, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    got: dict[str, dict[str, float]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        folder = Path(case.get("file", "")).parts[-2]
        failed = case.find("failure") is not None or case.find("error") is not None
        key = corpus[folder].stem
        got.setdefault(folder, {})[case.get("name")] = 0 if failed else POINTS[key][case.get("name")]
    _assert_grades("pytest", got)
    assert _digests(corpus) == before
