"""The built site in a real headless Chromium, with the network off.

Every page loads with no console error and no failed request, MathJax typesets the
mathematics, every image loads and has alt text, the search finds "REML" and "Pareto",
the download and launch buttons point where they should, and the exercise pages carry
no solution code.  `make test` builds the site first (`make site`).
"""

import functools
import http.server
import json
import re
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from _chromium import chromium_browser

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
STAGED_CONFIG = ROOT / "_build" / "site_src" / "_config.yml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").exists():
        from lmmteach.tools.site import build

        build()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as context:
        yield context


def pages():
    inside = (p.relative_to(HTML) for p in HTML.rglob("*.html"))
    return sorted(str(p) for p in inside if not p.parts[0].startswith("_") and p.parts[0] != "mathjax")


def visit(context, url):
    """Open a page; return it with the console errors and failed requests it produced."""
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    return page, problems


MATHJAX_DONE = """() => new Promise(resolve => {
    if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) { resolve(false); return; }
    MathJax.startup.promise.then(() => resolve(true), () => resolve(false));
})"""
RAW_MATH = r"""() => {
    const texts = [];
    for (const el of document.querySelectorAll('article p, article li, article td')) {
        if (el.closest('pre, code, .cell_output, mjx-container, script')) continue;
        texts.push(el.innerText);
    }
    return texts.filter(t => /\$[^$\s][^$]*\$|\\\(|\\\[/.test(t));
}"""
BROKEN_IMAGES = """() => [...document.images]
    .filter(img => !(img.complete && img.naturalWidth > 0) || !(img.getAttribute('alt') || '').trim())
    .map(img => img.src + ' alt=' + JSON.stringify(img.getAttribute('alt')))"""


def test_the_site_has_every_lesson_and_exercise_set():
    names = set(pages())
    assert "index.html" in names and "glossary.html" in names and "references.html" in names and "datasets.html" in names
    lessons = {p.stem for p in (ROOT / "lessons").glob("*.ipynb")}
    assert {f"lessons/{s}.html" for s in lessons} <= names
    assert {f"instructors/lesson_{s}.html" for s in lessons} <= names
    assert {f"exercises/{p.stem}.html" for p in (ROOT / "exercises").glob("*.ipynb")} <= names
    assert not any(n.startswith("solutions/") for n in names), "solutions must never be on the site"


def test_every_page_loads_offline_with_typeset_math_and_described_images(site, browser):
    report = {}
    for name in pages():
        page, problems = visit(browser, f"{site}/{name}")
        if page.locator("span.math, div.math").count():
            assert page.evaluate(MATHJAX_DONE), f"{name}: MathJax did not load"
            errors = page.locator("mjx-merror").count()
            typeset = page.locator("mjx-container").count()
            if errors or not typeset:
                problems.append(f"MathJax: {typeset} typeset, {errors} errors")
        raw = page.evaluate(RAW_MATH)
        problems += [f"raw TeX left: {t[:80]!r}" for t in raw]
        problems += [f"image broken or without alt text: {i}" for i in page.evaluate(BROKEN_IMAGES)]
        page.close()
        if problems:
            report[name] = problems
    assert not report, json.dumps(report, indent=1)


def test_lesson_figures_are_on_the_page_with_their_own_alt_text(site, browser):
    nb = json.loads((ROOT / "lessons" / "02_pooling.ipynb").read_text())
    expected = [c["metadata"]["mystnb"]["image"]["alt"] for c in nb["cells"]
                if c["cell_type"] == "code" and "mystnb" in c["metadata"]]
    page, problems = visit(browser, f"{site}/lessons/02_pooling.html")
    alts = page.eval_on_selector_all("article img", "imgs => imgs.map(i => i.alt)")
    assert all(alt in alts for alt in expected) and not problems


@pytest.mark.parametrize("term", ["REML", "Pareto"])
def test_search_finds(site, browser, term):
    page, problems = visit(browser, f"{site}/search.html?q={term}")
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=20_000)
    texts = " ".join(results.all_inner_texts())
    assert results.count() >= 2 and "Glossary" in texts, texts[:500]
    assert not problems, problems


def test_download_and_launch_buttons_point_at_the_lesson(site, browser):
    config = yaml.safe_load(STAGED_CONFIG.read_text())
    repo, hub = config["repository"]["url"], config["launch_buttons"]["jupyterhub_url"]
    for stem in ["02_pooling", "10_identifiability"]:
        page, problems = visit(browser, f"{site}/lessons/{stem}.html")
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
        download = f"../_sources/lessons/{stem}.ipynb"
        assert download in hrefs
        stored = json.loads(page.request.get(f"{site}/_sources/lessons/{stem}.ipynb").text())
        assert stored["metadata"]["kernelspec"]["name"] == "python3"
        if repo:
            org_repo = repo.removeprefix("https://github.com/")
            assert f"https://mybinder.org/v2/gh/{org_repo}/main?urlpath=lab/tree/lessons/{stem}.ipynb" in hrefs
        if hub:
            pull = (f"{hub}/hub/user-redirect/git-pull?repo={quote(repo, safe='/')}"
                    f"&urlpath=lab/tree/{repo.rsplit('/', 1)[-1]}/lessons/{stem}.ipynb&branch=main")
            assert pull in hrefs, [h for h in hrefs if "git-pull" in h]
        assert not problems, problems


def solution_lines():
    lines = set()
    for path in (ROOT / "solutions").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            for block in re.findall(r"# BEGIN SOLUTION\n(.*?)# END SOLUTION", source, re.S):
                lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= 15}
    return lines


def test_exercise_pages_carry_no_solution_code(site, browser):
    hidden = solution_lines()
    assert len(hidden) > 10
    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        scaffold = {line.strip() for cell in json.loads(path.read_text())["cells"] for line in "".join(cell["source"]).splitlines()}
        hidden_here = hidden - scaffold  # lines the generator removed (a kept signature is not a solution)
        page, problems = visit(browser, f"{site}/exercises/{path.stem}.html")
        text = page.inner_text("article")
        assert "Question 1" in text
        leaked = [line for line in hidden_here if line in text]
        assert not leaked and "BEGIN SOLUTION" not in text, f"{path.stem}: {leaked[:3]}"
        assert not problems, problems
