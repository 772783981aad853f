"""JupyterLab as a student uses it, in a real headless Chromium (Debian's), network off.

The server starts the way `make lab` does; the browser opens a notebook, runs all its
cells from the menu, waits for the kernel to go idle and checks what a student sees:
no error in any cell, the explorers drawn as sliders, a slider move that redraws the
figure (and not as a blank image), the exercise feedback.  Screenshots of every step go
to the test's tmp folder and are listed when a test fails.
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from _chromium import chromium_browser, screenshot
from test_lab import _free_port, _stop

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "lmm-course-browser-test"
pytestmark = pytest.mark.slow
RUN_TIMEOUT_MS = 300_000

# Share of the figure's pixels that are neither transparent nor white: a drawn figure has axes,
# lines and text; the blank figure of a failed redraw has none.
DRAWN_SHARE = """img => {
    const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data; let ink = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 16 && (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240)) ink++;
    return ink / (d.length / 4);
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    runtime = tmp_path_factory.mktemp("lab")
    port = _free_port()
    lab_args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={TOKEN} --ServerApp.port_retries=0 "
                "--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(runtime / "config"),
           "JUPYTERLAB_WORKSPACES_DIR": str(runtime / "workspaces"), "OPENBLAS_NUM_THREADS": "1"}
    if Path(sys.executable).resolve() == (ROOT / ".venv" / "bin" / "python").resolve():
        command = ["make", "--no-print-directory", "lab", f"LAB_ARGS={lab_args}"]
    else:
        command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT}", *lab_args.split()]
        if os.geteuid() == 0:
            command.insert(3, "--allow-root")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "JupyterLab did not start"
                time.sleep(0.5)
        yield base
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as context:
        yield context


@pytest.fixture
def shots(request, tmp_path):
    taken = []
    yield tmp_path, taken
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        print("screenshots:\n" + "\n".join(f"  {p}" for p in taken))


def open_and_run_all(browser, lab, path, folder, taken):
    """Open a notebook in JupyterLab, Run All Cells from the menu, wait until the kernel is idle."""
    page = browser.new_page()
    page.goto(f"{lab}/lab/tree/{path}?token={TOKEN}&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
    screenshot(page, folder, "opened", taken)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(
        """() => {
            const busy = [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
            const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
            const cells = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return !busy && idle && cells.length && cells.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=RUN_TIMEOUT_MS, polling=1000,
    )
    screenshot(page, folder, "ran_all", taken)
    tracebacks = page.locator(".jp-OutputArea-output", has_text="Traceback (most recent call last)")
    assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]
    return page


def move_slider_and_check_figure(page, widget, folder, taken, name):
    """Press the first slider's handle right; the figure below must change and not be blank."""
    widget.scroll_into_view_if_needed()
    figure = widget.locator(".jp-OutputArea-output img").last
    figure.wait_for(timeout=60_000)
    before = figure.get_attribute("src")
    screenshot(page, folder, f"{name}_before", taken, element=widget)
    handle = widget.locator(".noUi-handle").first
    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    page.wait_for_function(
        "([w, src]) => { const imgs = w.querySelectorAll('.jp-OutputArea-output img');"
        " const img = imgs[imgs.length - 1]; return img && img.complete && img.getAttribute('src') !== src; }",
        arg=[widget.element_handle(), before], timeout=60_000, polling=250,
    )
    time.sleep(2)  # a later redraw of the same figure replaces the image once more: judge the settled one
    screenshot(page, folder, f"{name}_after", taken, element=widget)
    figure = widget.locator(".jp-OutputArea-output img").last
    drawn = figure.evaluate(DRAWN_SHARE)
    assert drawn > 0.01, f"the figure after the slider move is blank ({drawn:.4f} of its pixels drawn)"


def test_lesson_02_shrinkage_explorer_runs_and_redraws(lab, browser, shots):
    folder, taken = shots
    page = open_and_run_all(browser, lab, "lessons/02_pooling.ipynb", folder, taken)
    widget = page.locator(".widget-interact").first
    widget.wait_for(timeout=30_000)
    assert widget.locator(".widget-slider, .widget-hslider").count() >= 2
    assert page.get_by_text("interactive(children=").count() == 0
    move_slider_and_check_figure(page, widget, folder, taken, "shrinkage")
    page.close()


def test_lesson_10_gibbs_explorer_runs_and_redraws(lab, browser, shots):
    folder, taken = shots
    page = open_and_run_all(browser, lab, "lessons/10_identifiability.ipynb", folder, taken)
    cell = page.locator(".jp-CodeCell", has_text="gibbs_explorer.explorer()").first
    widget = cell.locator(".jp-OutputArea-output .widget-vbox").first
    widget.wait_for(timeout=30_000)
    assert widget.locator(".widget-slider, .widget-hslider").count() >= 2
    assert page.get_by_text("VBox(children=").count() == 0
    move_slider_and_check_figure(page, widget, folder, taken, "gibbs")
    page.close()


def test_exercise_set_01_runs_and_says_not_attempted(lab, browser, shots):
    folder, taken = shots
    page = open_and_run_all(browser, lab, "exercises/01_ols_diagnostics.ipynb", folder, taken)
    feedback = page.locator(".jp-OutputArea-output", has_text="not attempted").first
    feedback.scroll_into_view_if_needed()
    assert feedback.is_visible()
    screenshot(page, folder, "feedback", taken, element=feedback)
    page.close()
