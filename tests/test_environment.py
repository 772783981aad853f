"""The two dependency lists agree, the stack imports, and the set-up commands are the documented ones."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pins(requirements):
    pins = {}
    for req in requirements:
        name, _, ver = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(==|=)\s*([^\s;]+)", req).groups()
        pins[name.lower().replace("_", "-")] = ver
    return pins


def pyproject_pins(skip_extras=()):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for name, extra in project.get("optional-dependencies", {}).items():
        if name not in skip_extras:
            reqs += extra
    return _pins(reqs)


def environment_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))]
    return env, _pins(conda)


def test_environment_yml_has_the_same_pins_as_pyproject():
    env, conda = environment_pins()
    # the [site] extra (`make site`) is pip-only: Binder and conda users never build the website
    assert conda == pyproject_pins(skip_extras=("site",))


def test_environment_yml_is_python_311_on_conda_forge_with_the_package_editable():
    env, _ = environment_pins()
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section == ["-e ."]


def test_every_pin_is_what_is_installed():
    mismatched = {name: (pin, version(name)) for name, pin in pyproject_pins().items() if version(name) != pin}
    assert not mismatched, f"installed versions differ from the pins: {mismatched}"


@pytest.mark.parametrize(
    "module",
    ["numpy", "scipy", "pandas", "matplotlib", "seaborn", "statsmodels", "formulae", "pymc", "pytensor",
     "nutpie", "bambi", "arviz", "xarray", "ipywidgets", "nbclient", "nbformat", "nbval", "jupyterlab"],
)
def test_stack_imports(module):
    __import__(module)


def test_readme_gives_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\s*$", ci, re.MULTILINE)
