"""The learner's route in a real browser: JupyterLab serves a filled-in release notebook, headless
Chromium opens it, runs every cell through the Run menu, and the page shows what the learner sees:
the visible tests of a correct answer pass, a wrong answer's AssertionError is printed under its cell.

Needs Chromium (Debian: `apt-get install -y chromium`) and the playwright package; skipped where either
is missing. Playwright's own browser download is not used: the system Chromium is launched by path
(AUTOGRADER_CHROMIUM overrides it)."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from notebooks import edit, submission

pytestmark = pytest.mark.slow

KEY = "01_matmul"
CORRECT = "matmul_loops"  # the reference answer: its visible tests must pass
WRONG = "matmul_einsum"   # the learner's mistake: the output comes out transposed
WRONG_ANSWER = edit('torch.einsum("ik,kj->ij", a, b)', 'torch.einsum("ik,kj->ji", a, b)')
# Bounds on each wait, 4x or more above what was measured on 2 cores at load average 12 (three runs):
SERVER_START_S = 40   # JupyterLab up and answering /api/status: 10 s
PAGE_LOAD_S = 40      # each browser action, e.g. every cell of the notebook in the page: 5-6 s
KERNEL_START_S = 60   # the notebook's kernel started and idle: 1 s more
RUN_ALL_S = 60        # every cell executed after Run All Cells: 4 s
# JupyterLab's own shutdown, kernels included (measured 1-4 s); after it, its process group is killed.
STOP_S = 10
ERROR_MIME = "application/vnd.jupyter.stderr"  # JupyterLab renders tracebacks with this mime type


def _chromium() -> str | None:
    """The system Chromium: $AUTOGRADER_CHROMIUM, else the first of the usual names on PATH."""
    if path := os.environ.get("AUTOGRADER_CHROMIUM"):
        return path if os.access(path, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings: Path) -> None:
    """JupyterLab user settings for the test: every cell kept in the page (no windowing, so each cell
    can be read by its index) and no news prompt over the notebook."""
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false"}}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


def _stop(server: subprocess.Popen, log: Path) -> str:
    """Stop JupyterLab and its kernels (the process group it leads); return its log."""
    if server.poll() is None:
        server.terminate()  # SIGTERM: JupyterLab shuts its kernels down, then exits
        try:
            server.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.pid, signal.SIGKILL)  # whatever is left of its group (a kernel that hung)
    except (ProcessLookupError, PermissionError):
        pass
    server.wait(timeout=STOP_S)
    return log.read_text(encoding="utf-8", errors="replace")[-6000:]


def _wait_for_server(server: subprocess.Popen, log: Path, url: str) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode} before it answered:\n{_stop(server, log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{_stop(server, log)}")


@pytest.fixture
def chromium():
    """(path of the system Chromium, playwright's sync API); skips before anything is started."""
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium found (Debian: apt-get install -y chromium; or set AUTOGRADER_CHROMIUM "
                    "to a Chromium executable)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .)")
    return path, sync_api


@pytest.fixture
def jupyterlab(chromium, tmp_path: Path):
    """JupyterLab on 127.0.0.1 (a free port, a token), serving a temporary root that holds the
    01_matmul release notebook: reference answers, except a transposed einsum. Yields (url, notebook)."""
    root, home, log = tmp_path / "root", tmp_path / "jupyter", tmp_path / "jupyterlab.log"
    root.mkdir()
    notebook = submission(KEY, {WRONG: WRONG_ANSWER}, lean=True)
    nbformat.write(notebook, root / f"{KEY}.ipynb")
    _write_settings(home / "settings")
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with log.open("w", encoding="utf-8") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(server, log, f"{base}/api/status?token={token}")
        yield f"{base}/lab/tree/{KEY}.ipynb?token={token}", notebook
    finally:
        _stop(server, log)


def _cell_index(notebook: nbformat.NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(notebook.cells)
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_run_all_in_jupyterlab_shows_passing_and_failing_visible_tests(chromium, jupyterlab, tmp_path):
    executable, sync_api = chromium
    url, notebook = jupyterlab
    correct_test, wrong_test = _cell_index(notebook, f"test_{CORRECT}"), _cell_index(notebook, f"test_{WRONG}")
    screenshot = tmp_path / "notebook.png"  # what the page showed at the end (or when it timed out)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, timeout=30_000,
                                    args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.set_default_timeout(PAGE_LOAD_S * 1000)
            page.goto(url, wait_until="domcontentloaded")
            cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            cells.nth(len(notebook.cells) - 1).wait_for(state="attached")
            assert cells.count() == len(notebook.cells), "the page does not show every cell of the notebook"

            # Wait for the kernel: Run All before it is up clears the cells instead of running them.
            try:
                page.wait_for_function(
                    """() => Array.from(document.querySelectorAll('.jp-StatusBar-TextItem'),
                                        e => e.textContent.trim())
                                 .some(t => /^(?!No Kernel).* \\| Idle$/.test(t))""", timeout=KERNEL_START_S * 1000)
            except sync_api.TimeoutError:
                pytest.fail(f"the notebook's kernel was not idle within {KERNEL_START_S} s; see {screenshot}")

            # Run > Run All Cells, as a learner would.
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()

            # Done when the wrong answer's test cell, the last code cell, holds an execution count
            # ("[11]:", not "[ ]:" or the queued "[*]:"), or when an error stopped the run early and
            # nothing is queued any more.
            try:
                page.wait_for_function(
                    """([wrong, errorMime]) => {
                        const cells = document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell');
                        const prompts = Array.from(cells, c => c.querySelector('.jp-InputPrompt')?.textContent ?? '');
                        const stopped = document.querySelector(`[data-mime-type="${errorMime}"]`) !== null
                                        && !prompts.some(t => t.includes('*'));
                        return /\\[\\d+\\]/.test(prompts[wrong]) || stopped;
                    }""", arg=[wrong_test, ERROR_MIME], timeout=RUN_ALL_S * 1000)
            except sync_api.TimeoutError:
                pytest.fail(f"the cells did not finish within {RUN_ALL_S} s after Run All Cells; see {screenshot}")

            correct_cell, wrong_cell = cells.nth(correct_test), cells.nth(wrong_test)
            correct_cell.scroll_into_view_if_needed()
            assert correct_cell.locator(f'[data-mime-type="{ERROR_MIME}"]').count() == 0, (
                f"the visible tests of the reference {CORRECT} show an error:\n{correct_cell.inner_text()}")
            assert f"{CORRECT}: visible tests passed" in correct_cell.locator(".jp-OutputArea").inner_text()

            wrong_cell.scroll_into_view_if_needed()
            error = wrong_cell.locator(f'[data-mime-type="{ERROR_MIME}"]')
            assert error.count() == 1, f"no error under the visible tests of the wrong {WRONG}"
            assert error.is_visible() and "AssertionError" in error.inner_text(), error.inner_text()
            assert f"{WRONG}: visible tests passed" not in wrong_cell.locator(".jp-OutputArea").inner_text()
            assert page.locator(f'[data-mime-type="{ERROR_MIME}"]').count() == 1, (
                "an error shows under another cell too: " + page.locator(f'[data-mime-type="{ERROR_MIME}"]').first.inner_text())
        finally:
            with contextlib.suppress(sync_api.Error):
                page.screenshot(path=str(screenshot))
            browser.close()
    assert screenshot.stat().st_size > 0
