"""How a graded kernel reports its check results to the grader: signed JSON lines.

The grader (:mod:`lmmteach.tools.grade`) starts each submission's kernel with
two environment variables: ``RESULTS_VAR`` (a file path) and ``TOKEN_VAR`` (a
random secret). Every ``check`` and ``solution`` call then appends one JSON
line to that file, signed with an HMAC of the token (:func:`record`). Both
variables are removed from ``os.environ`` when this module is imported. The
grader ignores unsigned or badly signed lines, so printing "Correct" or writing
the file by hand earns nothing; the grader re-executes the submitted source in a
fresh kernel, so stored outputs count for nothing either. This is a deterrent
for a classroom, not a sandbox: code running in the same process could reach
the key with effort. Outside the grader both variables are unset and
:func:`record` does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

__all__ = ["RESULTS_VAR", "TOKEN_VAR", "record", "sign"]

RESULTS_VAR = "LMMTEACH_GRADE_RESULTS"
TOKEN_VAR = "LMMTEACH_GRADE_TOKEN"

_GRADE_FILE = os.environ.pop(RESULTS_VAR, None)
_GRADE_KEY = os.environ.pop(TOKEN_VAR, "").encode()


def sign(record: dict, key: bytes) -> str:
    """HMAC-SHA256 of a result record (without its ``sig`` field)."""
    payload = json.dumps({k: v for k, v in record.items() if k != "sig"}, sort_keys=True)
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def record(entry: dict) -> None:
    """Append ``entry``, signed, to the grader's results file (no-op outside the grader)."""
    if not _GRADE_FILE or not _GRADE_KEY:
        return
    entry = dict(entry)
    entry["sig"] = sign(entry, _GRADE_KEY)
    try:
        with open(_GRADE_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
    except OSError:
        pass
