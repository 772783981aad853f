"""The watermark printed at the end of every notebook: which versions ran it."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

MAIN_PACKAGES = (
    "lmmteach", "numpy", "scipy", "pandas", "matplotlib", "seaborn", "statsmodels",
    "formulae", "pymc", "pytensor", "bambi", "arviz", "ipywidgets",
)


def package_versions(packages=MAIN_PACKAGES) -> dict[str, str]:
    """Installed version of each package ('not installed' when absent)."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def show(packages=MAIN_PACKAGES) -> None:
    """Print the versions, one per line, like the PyMC gallery's watermark cell."""
    for name, ver in package_versions(packages).items():
        print(f"{name:<12} {ver}")
