"""JupyterLab as a student uses it, in a real headless Chromium (Debian's), network off.

The server starts the way `make lab` does; the browser opens a notebook, runs all its
cells from the menu, waits for the kernel to go idle and checks what a student sees:
no error in any cell, the explorers drawn as sliders, a slider move that redraws the
figure (and not as a blank image), the exercise feedback.  Screenshots of every step go
to the test's tmp folder and are listed when a test fails.
"""

import json
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
    user_settings = {  # a fresh profile: no "fetch the news?" pop-up; no autosave of the course's notebooks
        "apputils-extension/notification": {"fetchNews": "false"},
        "docmanager-extension/plugin": {"autosave": False},
    }
    for name, values in user_settings.items():
        path = runtime / "settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(runtime / "config"),
           "JUPYTERLAB_WORKSPACES_DIR": str(runtime / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(runtime / "settings"), "OPENBLAS_NUM_THREADS": "1"}
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
    with chromium_browser(height=1400) as context:  # tall enough for the whole Gibbs explorer in one screenshot
        yield context


@pytest.fixture
def shots(request, tmp_path):
    taken = []
    yield tmp_path, taken
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        print("screenshots:\n" + "\n".join(f"  {p}" for p in taken))


def menu(page, menu_name, item):
    """Click an item of a menu of JupyterLab's menu bar, as a student does."""
    page.locator(".lm-MenuBar-itemLabel", has_text=menu_name).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def accept_kernel_dialog(page):
    """A "Select Kernel" dialog may ask which kernel to start: take the one proposed (the notebook's)."""
    dialog = page.locator(".jp-Dialog")
    try:
        dialog.wait_for(timeout=5_000)
    except Exception:  # no dialog: the kernel started on its own
        return
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    dialog.wait_for(state="detached", timeout=10_000)


ALL_RAN = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
    const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
    return idle && prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p));
}"""


@pytest.fixture(autouse=True)
def notebooks_unchanged():
    """The browser runs the course's own notebooks: none of them may be saved over."""
    before = {p: p.read_bytes() for p in [*ROOT.glob("lessons/*.ipynb"), *ROOT.glob("exercises/*.ipynb")]}
    yield
    changed = [str(p.relative_to(ROOT)) for p, data in before.items() if p.read_bytes() != data]
    assert not changed, f"JupyterLab saved over {changed}"


def open_and_run_all(browser, lab, path, folder, taken):
    """Open a notebook in JupyterLab, clear its stored outputs, Run All Cells from the menu and wait
    until every code cell has a new execution count and the kernel is idle."""
    page = browser.new_page()
    page.goto(f"{lab}/lab/tree/{path}?token={TOKEN}&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    accept_kernel_dialog(page)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=90_000)
    screenshot(page, folder, "opened", taken)
    page.locator(".jp-Notebook .jp-Cell").first.click()  # focus the notebook, so its menus apply
    menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(  # the stored [n] prompts are gone: a count from now on is from this run
        "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]"
        ".every(p => !/\\d/.test(p.textContent))", timeout=30_000)
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(ALL_RAN, timeout=RUN_TIMEOUT_MS, polling=1000)
    screenshot(page, folder, "ran_all", taken)
    tracebacks = page.locator(".jp-OutputArea-output", has_text="Traceback (most recent call last)")
    assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                          has_text="Error")
    assert errors.count() == 0, errors.first.inner_text()[:2000]
    return page


def explorer(page, call):
    """The widget the explorer cell whose source contains ``call`` displays, drawn as controls."""
    cell = page.locator(".jp-CodeCell", has=page.locator(".jp-InputArea", has_text=call)).first
    widget = cell.locator(".jp-OutputArea-output .widget-vbox").first
    widget.wait_for(timeout=60_000)
    outputs = cell.locator(".jp-OutputArea-output")
    assert "children=" not in outputs.first.inner_text(), "the explorer shows as text, not as a widget"
    assert widget.locator(".widget-slider, .widget-hslider").count() >= 2
    return widget


FIGURE = "w => { const imgs = w.querySelectorAll('img'); return imgs[imgs.length - 1] || null; }"
# the explorer's figure (an ipywidgets.Image, or a plot in an Output widget): settled, and its src
FIGURE_SRC = """w => { const imgs = w.querySelectorAll('img'); const img = imgs[imgs.length - 1];
    return img && img.complete && img.naturalWidth > 0 ? img.getAttribute('src') : null; }"""


def drawn_share(widget):
    """Share of the figure's pixels that are drawn; 0 when the widget shows no figure at all."""
    figure = widget.evaluate_handle(FIGURE).as_element()
    return 0.0 if figure is None else figure.evaluate(DRAWN_SHARE)


def move_slider_and_check_figure(page, widget, folder, taken, name):
    """Press the first slider's handle right; the figure in the widget must change and not be blank."""
    widget.scroll_into_view_if_needed()
    handle = widget.element_handle()
    page.wait_for_function(FIGURE_SRC, arg=handle, timeout=60_000)
    before = widget.evaluate(FIGURE_SRC)
    assert drawn_share(widget) > 0.01, "the explorer's first figure is blank"
    screenshot(page, folder, f"{name}_before", taken, element=widget)
    slider = widget.locator(".noUi-handle").first
    slider.focus()
    for _ in range(3):
        slider.press("ArrowRight")
    page.wait_for_function(
        f"([w, src]) => {{ const now = ({FIGURE_SRC})(w); return now !== null && now !== src; }}",
        arg=[handle, before], timeout=60_000, polling=250,
    )
    time.sleep(2)  # a later redraw of the same figure replaces the image once more: judge the settled one
    page.wait_for_function(FIGURE_SRC, arg=handle, timeout=60_000)
    screenshot(page, folder, f"{name}_after", taken, element=widget)
    drawn = drawn_share(widget)
    assert drawn > 0.01, f"the figure after the slider move is blank or gone ({drawn:.4f} of its pixels drawn)"


@pytest.mark.parametrize("notebook, call, name", [
    ("lessons/02_pooling.ipynb", "shrinkage_explorer(", "shrinkage"),
    # the test that catches a blank redraw (the Gibbs explorer of commit 062f19b fails it)
    ("lessons/10_identifiability.ipynb", "gibbs_explorer(", "gibbs"),
])
def test_explorer_runs_as_sliders_and_redraws(lab, browser, shots, notebook, call, name):
    folder, taken = shots
    page = open_and_run_all(browser, lab, notebook, folder, taken)
    widget = explorer(page, call)
    move_slider_and_check_figure(page, widget, folder, taken, name)
    page.close()


def test_exercise_set_01_runs_and_says_not_attempted(lab, browser, shots):
    folder, taken = shots
    page = open_and_run_all(browser, lab, "exercises/01_ols_diagnostics.ipynb", folder, taken)
    feedback = page.locator(".jp-OutputArea-output", has_text="not attempted")
    assert feedback.count() >= 7, f"{feedback.count()} feedback outputs say 'not attempted'"
    feedback.first.scroll_into_view_if_needed()
    assert feedback.first.is_visible()
    screenshot(page, folder, "feedback", taken, element=feedback.first)
    page.close()
