"""Build the course website (Jupyter Book 1) from the stored notebook outputs, offline.

``python -m lmmteach.tools.site`` stages the book in ``_build/site_src``: the lessons with an
episode header (objectives, prerequisites, time, glossary terms) and key points injected from
``site/lessons.yml``, the exercise notebooks (students' version), the pages of ``site/pages``,
one instructor page per lesson, and MathJax 3 with its fonts (from the ``sphinx-mathjax-offline``
package, served from the site's ``mathjax/``); then runs ``jupyter-book build`` with execution off.  The HTML lands in ``_build/html``.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

__all__ = ["ROOT", "HTML", "REPO", "lesson_header", "lesson_footer", "stage", "build", "main", "setup"]

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "site"
STAGE = ROOT / "_build" / "site_src"
HTML = ROOT / "_build" / "html"
# the public repository the launch buttons start from (Jupyter Book needs one); `make site SITE_REPO=...`
REPO = "https://github.com/lmm-course/lmm-course"
SOLUTION_MARKER = "BEGIN SOLUTION"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _bullets(items):
    return "\n".join(f"- {item}" for item in items)


def lesson_header(meta):
    """The Carpentries-style episode header shown under a lesson's title (MyST markdown)."""
    terms = ", ".join(f"{{term}}`{term}`" for term in meta["terms"])
    return (
        ":::{admonition} Overview\n:class: tip lesson-overview\n\n"
        f"**Time:** {meta['time']}\n\n"
        f"**Prerequisites:** {'; '.join(meta['prerequisites'])}\n\n"
        f"**Learning objectives**\n\n{_bullets(meta['objectives'])}\n\n"
        f"**Terms** (see the [glossary](../glossary.md)): {terms}\n\n"
        "To run this lesson, use the launch button (rocket icon) at the top of the page, "
        "or `make lab` on your machine.\n:::\n"
    )


def lesson_footer(stem, meta):
    """The key points and the links to the instructor notes and exercises, after a lesson."""
    links = [f"[Instructor notes for this lesson](../instructors/lesson_{stem}.md)"]
    if meta["exercises"]:
        links.append(f"[Exercise set {meta['exercises'][:2]}](../exercises/{meta['exercises']}.ipynb)")
    return (
        ":::{admonition} Key points\n:class: important\n\n"
        f"{_bullets(meta['keypoints'])}\n:::\n\n" + " · ".join(links) + "\n"
    )


def instructor_page(stem, meta, title):
    """One instructor page: what to project, where students stumble, timing, exercises."""
    notes = meta["instructor"]
    exercises = (
        f"[exercise set {meta['exercises'][:2]}](../exercises/{meta['exercises']}.ipynb)"
        if meta["exercises"] else "none (a discussion lesson)"
    )
    return (
        f"# Instructor notes: {title}\n\n"
        f"Lesson: [{title}](../lessons/{stem}.ipynb). Time: {meta['time']}.\n\n"
        f"**What to project.** {notes['project']}\n\n"
        f"**Where students stumble.** {notes['stumbles']}\n\n"
        f"**In a 3-hour workshop.** {notes['workshop_3h']}\n\n"
        f"**In a 2-day workshop.** {notes['workshop_2d']}\n\n"
        f"**Exercises.** {exercises}\n"
    )


def _markdown_cell(text, tag):
    return {"cell_type": "markdown", "id": f"site-{tag}", "metadata": {"tags": [f"site-{tag}"]},
            "source": text.splitlines(keepends=True)}


def _hide_live_widgets(nb):
    """Drop explorers' widget views: they need a kernel; the static example cell beside each stays."""
    nb["metadata"].pop("widgets", None)
    for cell in nb["cells"]:
        if any(WIDGET_VIEW in output.get("data", {}) for output in cell.get("outputs", [])):
            cell["metadata"].setdefault("tags", []).append("remove-output")


def _title(nb):
    first = "".join(nb["cells"][0]["source"]).splitlines()[0]
    return first.lstrip("# ").strip()


def _stage_lessons(lessons_meta):
    (STAGE / "lessons").mkdir(parents=True)
    (STAGE / "instructors").mkdir(exist_ok=True)
    for path in sorted((ROOT / "lessons").glob("*.ipynb")):
        stem = path.stem
        if stem not in lessons_meta:
            raise ValueError(f"site/lessons.yml has no entry for lesson {stem}")
        meta, nb = lessons_meta[stem], json.loads(path.read_text())
        _hide_live_widgets(nb)
        nb["cells"].insert(1, _markdown_cell(lesson_header(meta), "header"))
        nb["cells"].append(_markdown_cell(lesson_footer(stem, meta), "keypoints"))
        (STAGE / "lessons" / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False))
        (STAGE / "instructors" / f"lesson_{stem}.md").write_text(instructor_page(stem, meta, _title(nb)))


def _stage_exercises():
    (STAGE / "exercises").mkdir()
    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        if SOLUTION_MARKER in path.read_text():
            raise ValueError(f"{path.name} contains solution code: regenerate it with `make exercises`")
        shutil.copy2(path, STAGE / "exercises" / path.name)


def _mathjax_dir():
    """The complete MathJax 3 (``tex-chtml.js``, its components and fonts) a PyPI package ships."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        folder = Path(distribution("sphinx-mathjax-offline").locate_file("sphinx-mathjax-offline/static/mathjax"))
    except PackageNotFoundError:
        raise SystemExit("make site needs the [site] extra: pip install -e '.[site]'") from None
    if not (folder / "tex-chtml.js").is_file():
        raise SystemExit(f"no MathJax at {folder}: reinstall sphinx-mathjax-offline")
    return folder


def stage(repo_url=REPO, hub_url=""):
    """Fill ``_build/site_src`` with everything Jupyter Book builds; return its path."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    config = yaml.safe_load((SITE / "_config.yml").read_text())
    config["repository"]["url"] = repo_url
    config["launch_buttons"]["jupyterhub_url"] = hub_url
    (STAGE / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    shutil.copy2(SITE / "_toc.yml", STAGE / "_toc.yml")
    shutil.copytree(SITE / "_static", STAGE / "_static")
    shutil.copytree(_mathjax_dir(), STAGE / "_mathjax" / "mathjax")
    for page in (SITE / "pages").glob("*.md"):
        target = STAGE / ("instructors/index.md" if page.stem == "instructors" else page.name)
        target.parent.mkdir(exist_ok=True)
        shutil.copy2(page, target)
    shutil.copy2(ROOT / "datasets" / "README.md", STAGE / "datasets.md")
    _stage_lessons(yaml.safe_load((SITE / "lessons.yml").read_text()))
    _stage_exercises()
    return STAGE


def build(repo_url=REPO, hub_url="", strict=True):
    """Stage and build the site; return the folder of the HTML."""
    source = stage(repo_url, hub_url)
    if HTML.exists():
        shutil.rmtree(HTML)  # nothing of an earlier build (an old MathJax, a renamed page) survives
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(source),
               "--path-output", str(ROOT), "--builder", "html", "--all"]
    if strict:
        command.append("--warningiserror")
    subprocess.run(command, check=True)
    return HTML


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    """Keep each script once: sphinx-thebe's and sphinx-togglebutton's inline scripts arrive twice,
    and a repeated ``const THEBE_JS_URL`` is a console error on every page."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or None, script.attributes.get("body"))  # an inline script: None or ""
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: the builder adds MathJax to this same list


def setup(app):
    """The Sphinx extension ``_config.yml`` loads (``extra_extensions``) while the book builds."""
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=REPO, help="the course's public git repository (Binder, JupyterHub, repository button)")
    parser.add_argument("--hub", default="", help="a JupyterHub address for the nbgitpuller launch button")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    html = build(args.repo, args.hub)
    print(f"site built in {time.perf_counter() - start:.1f} s: open {html / 'index.html'}")


if __name__ == "__main__":
    main()
