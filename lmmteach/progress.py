"""One switch for progress bars: on for a person at a notebook, off under tests and CI.

Progress bars redraw (nutpie's HTML, PyMC's rich bar) and so differ on every
run; stored outputs compared by nbval must not contain them. Every sampler
call and every long loop in the course asks :func:`enabled` instead of
taking a per-cell argument.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["ENV_VAR", "enabled", "track"]

ENV_VAR = "LMMTEACH_PROGRESS"
"""Set to "0" to silence progress, "1" to force it (the course's runner and conftest set "0")."""

T = TypeVar("T")


def enabled(override: bool | None = None) -> bool:
    """Whether to show progress: ``override`` if given, else LMMTEACH_PROGRESS, else off under CI or pytest."""
    if override is not None:
        return bool(override)
    setting = os.environ.get(ENV_VAR, "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    return not (os.environ.get("CI") or os.environ.get("PYTEST_CURRENT_TEST"))


def track(iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``iterable``, drawing a rich progress bar when :func:`enabled` says so."""
    if not enabled():
        yield from iterable
        return
    from rich.progress import track as rich_track

    yield from rich_track(iterable, description=description, total=total, transient=True)
