"""Self-checking exercise questions: ``q.check(answer)``, ``q.hint(n)``, ``q.solution()``.

Each exercise set (``ex01``, ``ex02``, ...) builds a few :class:`Question`
objects. ``check`` never raises on a student's answer and never shows the
expected value; it classifies the answer as one of

* ``correct``
* ``not_attempted`` -- the answer is still ``...`` (or ``None``, or a stub function)
* ``wrong_type`` / ``wrong_shape`` -- the message says what was expected
* ``known_mistake`` -- a targeted message (ML instead of REML, variance instead of SD, ...)
* ``close`` -- near the expected value but outside the tolerance
* ``incorrect``

shows it (coloured HTML in a notebook, plain text elsewhere) and returns a
:class:`Result`. Expected values are computed lazily (once) from the same data
the student loads. These checks are for practice: the grader never trusts them,
it reads the answers themselves as data and judges them in its own process
(:mod:`lmmteach.exercises.protocol`, :mod:`lmmteach.tools.judge`).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from lmmteach.exercises.protocol import record

__all__ = [
    "ArrayQuestion", "ChoiceQuestion", "FunctionQuestion", "Mistake", "NumericQuestion", "ObjectQuestion",
    "PublicQuestion", "Question", "Result", "collect_questions",
]

_COLOURS = {"correct": "#1b7f3b", "not_attempted": "#555555", "hint": "#1f5fa8", "solution": "#7a4bb3"}


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the course
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _show(kind: str, title: str, body: str, code: str | None = None) -> None:
    """Coloured HTML in a notebook, plain text elsewhere (both deterministic)."""
    plain = f"{title}: {body}" if body else title
    if code:
        plain += "\n" + code
    if not _in_notebook():
        print(plain)
        return
    from IPython.display import display

    colour = _COLOURS.get(kind, "#b35900")
    pieces = [f'<div style="border-left: 4px solid {colour}; padding: 0.3em 0.8em; margin: 0.3em 0">',
              f'<b style="color: {colour}">{html.escape(title)}</b>']
    if body:
        pieces.append(f" {html.escape(body)}")
    if code:
        pieces.append(f"<pre>{html.escape(code)}</pre>")
    pieces.append("</div>")
    display({"text/html": "".join(pieces), "text/plain": plain}, raw=True)


@dataclass
class Result:
    """The outcome of one ``check``: what the grader records and tests assert."""

    question: str
    status: str
    message: str
    points: float
    max_points: float

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def __bool__(self) -> bool:
        return self.correct

    def _ipython_display_(self):  # already shown by check(); do not show it twice
        return None


@dataclass
class Mistake:
    """A known wrong answer and the message that explains it.

    ``value``: the wrong answer (or a zero-argument function computing it),
    compared with the question's own tolerance. ``when``: a predicate on the
    answer, for mistakes recognised by form (a missing coefficient, say).
    """

    message: str
    value: Any = None
    when: Callable[[Any], bool] | None = None
    rtol: float | None = None  # for a value mistake, a tolerance other than the question's
    atol: float = 0.0

    def wrong_value(self):
        return self.value() if callable(self.value) else self.value


class Question:
    """Base class: prompt, hints, solution, and the never-raising ``check``."""

    def __init__(self, set_name: str, name: str, prompt: str, *, hints: Sequence[str] = (),
                 solution: str = "", points: float = 1.0, mistakes: Sequence[Mistake] = ()):
        self.set_name, self.name, self.prompt = set_name, name, prompt
        self.hints = list(hints)
        self.solution_code = solution
        self.points = float(points)
        self.mistakes = list(mistakes)

    @property
    def qid(self) -> str:
        return f"{self.set_name}.{self.name}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.qid}: {self.prompt}>"

    # The student API.
    def check(self, answer: Any = ..., *, quiet: bool = False) -> Result:
        """Check ``answer``; show feedback; return a :class:`Result`."""
        try:
            if _not_attempted(answer):
                status, message = "not_attempted", "replace the `...` with your answer, then run the cell again."
            else:
                status, message = self._check(answer)
        except Exception as err:  # a checker must never raise on a student's answer
            status, message = "incorrect", f"your answer could not be checked ({type(err).__name__}: {err})."
        result = Result(self.qid, status, message, self.points if status == "correct" else 0.0, self.points)
        record({"question": self.qid, "event": "check", "status": status, "points": result.points,
                 "max_points": self.points})
        if not quiet:
            titles = {"correct": "Correct", "not_attempted": "Not attempted yet",
                      "wrong_type": "Wrong type", "wrong_shape": "Wrong shape",
                      "known_mistake": "Not quite", "close": "Close", "incorrect": "Incorrect"}
            _show(status, f"{self.name} - {titles[status]}", message if status != "correct" else "")
        return result

    def hint(self, n: int = 1) -> None:
        """Show hint number ``n`` (1 = the gentlest)."""
        if not self.hints:
            _show("hint", f"{self.name} - Hint", "there are no hints for this question.")
        elif not isinstance(n, int) or not 1 <= n <= len(self.hints):
            _show("hint", f"{self.name} - Hint", f"choose a hint from 1 to {len(self.hints)}.")
        else:
            more = f" (more: .hint({n + 1}))" if n < len(self.hints) else ""
            _show("hint", f"{self.name} - Hint {n}/{len(self.hints)}", self.hints[n - 1] + more)

    def solution(self) -> None:
        """Show the solution (the grader records that it was viewed)."""
        record({"question": self.qid, "event": "solution"})
        _show("solution", f"{self.name} - Solution", self._solution_text(), self.solution_code or None)

    # What a question type defines.
    def _check(self, answer) -> tuple[str, str]:
        raise NotImplementedError

    def _solution_text(self) -> str:
        return ""

    def _predicate_mistake(self, answer) -> str | None:
        for mistake in self.mistakes:
            if mistake.when is not None:
                try:
                    if mistake.when(answer):
                        return mistake.message
                except Exception:
                    continue
        return None


def _not_attempted(answer) -> bool:
    return answer is ... or answer is None


def _cached(fn):
    """Compute an expected value once, on first use."""
    store = {}

    def get():
        if "value" not in store:
            store["value"] = fn() if callable(fn) else fn
        return store["value"]

    return get


def _as_number(answer) -> float | None:
    if isinstance(answer, (bool, np.bool_, str, bytes)):
        return None
    try:
        arr = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return None
    return float(arr.reshape(-1)[0]) if arr.size == 1 else None


def _describe(answer) -> str:
    if isinstance(answer, np.ndarray):
        return f"an array of shape {answer.shape}"
    if hasattr(answer, "shape"):
        return f"a {type(answer).__name__} of shape {tuple(answer.shape)}"
    return f"a value of type {type(answer).__name__}"


class NumericQuestion(Question):
    """A single number, correct within ``rtol``/``atol`` of the expected value."""

    def __init__(self, set_name, name, prompt, expected, *, rtol=1e-3, atol=0.0, tol=None, close_factor=10.0, **kw):
        super().__init__(set_name, name, prompt, **kw)
        self.expected = _cached(expected)
        self.rtol, self.atol, self.close_factor = rtol, atol, close_factor
        self.tol = _cached(tol) if tol is not None else None  # an absolute tolerance computed once (MC error)

    def tolerance(self, target: float) -> float:
        if self.tol is not None:
            return float(self.tol())
        return self.atol + self.rtol * abs(target)

    def _check(self, answer):
        value = _as_number(answer)
        if value is None:
            return "wrong_type", f"expected a single number (int or float), got {_describe(answer)}."
        if not math.isfinite(value):
            return "incorrect", f"your answer is {value}; expected a finite number."
        target = float(self.expected())
        if abs(value - target) <= self.tolerance(target):
            return "correct", ""
        for mistake in self.mistakes:
            if mistake.value is not None:
                wrong = float(mistake.wrong_value())
                tol = self.tolerance(wrong) if mistake.rtol is None else mistake.rtol * abs(wrong) + mistake.atol
                if abs(value - wrong) <= tol:
                    return "known_mistake", mistake.message
        message = self._predicate_mistake(value)
        if message:
            return "known_mistake", message
        if abs(value - target) <= self.close_factor * self.tolerance(target):
            return "close", "close, but outside the tolerance: check rounding and the last step."
        return "incorrect", "that is not the expected value."


class ArrayQuestion(Question):
    """An array of a given shape, correct elementwise within ``rtol``/``atol``."""

    def __init__(self, set_name, name, prompt, expected, *, rtol=1e-6, atol=1e-8, **kw):
        super().__init__(set_name, name, prompt, **kw)
        self.expected = _cached(expected)
        self.rtol, self.atol = rtol, atol

    def _close(self, a, b, factor=1.0):
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=self.rtol * factor, atol=self.atol * factor))

    def _check(self, answer):
        if isinstance(answer, (str, bytes, dict)):
            return "wrong_type", f"expected an array of numbers, got {_describe(answer)}."
        try:
            arr = np.asarray(answer, dtype=float)
        except (TypeError, ValueError):
            return "wrong_type", f"expected an array of numbers, got {_describe(answer)}."
        message = self._predicate_mistake(arr)
        if message:
            return "known_mistake", message
        target = np.asarray(self.expected(), dtype=float)
        if arr.shape != target.shape:
            if arr.size == target.size:
                return "wrong_shape", f"expected shape {target.shape}, got {arr.shape}: reshape or flatten it."
            return "wrong_shape", f"expected an array of shape {target.shape}, got shape {arr.shape}."
        if self._close(arr, target):
            return "correct", ""
        for mistake in self.mistakes:
            if mistake.value is not None and self._close(arr, np.asarray(mistake.wrong_value(), float)):
                return "known_mistake", mistake.message
        if self._close(arr, target, 100.0):
            return "close", "close, but some entries are outside the tolerance."
        return "incorrect", "the values are not the expected ones."


class ChoiceQuestion(Question):
    """Pick one option by its letter; wrong options may carry their own feedback."""

    def __init__(self, set_name, name, prompt, options: dict[str, str], answer: str, *,
                 feedback: dict[str, str] | None = None, **kw):
        super().__init__(set_name, name, prompt, **kw)
        self.options = {k.lower(): v for k, v in options.items()}
        self.answer = answer.lower()
        self.feedback = {k.lower(): v for k, v in (feedback or {}).items()}
        if self.answer not in self.options:
            raise ValueError(f"{self.qid}: answer {answer!r} is not one of the options")

    def __repr__(self):
        lines = [f"{self.qid}: {self.prompt}"] + [f"  ({k}) {v}" for k, v in self.options.items()]
        return "\n".join(lines)

    def _check(self, answer):
        letters = ", ".join(repr(k) for k in self.options)
        if not isinstance(answer, str):
            return "wrong_type", f"expected one letter as a string: one of {letters}; got {_describe(answer)}."
        choice = answer.strip().strip("()").lower()
        if choice not in self.options:
            return "wrong_type", f"{answer!r} is not an option; choose one of {letters}."
        if choice == self.answer:
            return "correct", ""
        if choice in self.feedback:
            return "known_mistake", self.feedback[choice]
        return "incorrect", "that is not the best option; reread the question."

    def _solution_text(self):
        return f"({self.answer}) {self.options[self.answer]}"


class FunctionQuestion(Question):
    """Code that defines a function; checked against a reference on test inputs.

    ``cases()`` returns a list of argument tuples. Outputs are compared
    (numbers, arrays, or tuples of those) with ``rtol``/``atol``. A mistake
    whose ``value`` is a function is recognised when the student's function
    agrees with it on every case.
    """

    def __init__(self, set_name, name, prompt, reference: Callable, cases: Callable[[], list], *,
                 rtol=1e-8, atol=1e-10, **kw):
        super().__init__(set_name, name, prompt, **kw)
        self.reference = reference
        self.cases = _cached(cases)
        self.rtol, self.atol = rtol, atol

    def _same(self, got, want) -> str | None:
        """None when equal; otherwise what differs."""
        if isinstance(want, tuple):
            if not isinstance(got, (tuple, list)) or len(got) != len(want):
                return f"expected a tuple of {len(want)} values, got {_describe(got)}"
            for i, (g, w) in enumerate(zip(got, want)):
                problem = self._same(g, w)
                if problem:
                    return f"item {i}: {problem}"
            return None
        try:
            g = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return f"expected numbers, got {_describe(got)}"
        w = np.asarray(want, dtype=float)
        if g.shape != w.shape:
            return f"expected shape {w.shape}, got shape {g.shape}"
        if not np.allclose(g, w, rtol=self.rtol, atol=self.atol):
            return "wrong values"
        return None

    def _check(self, answer):
        if not callable(answer):
            return "wrong_type", f"expected a function (define it with `def`), got {_describe(answer)}."
        outputs = []
        for args in self.cases():
            try:
                outputs.append(answer(*[np.copy(a) if isinstance(a, np.ndarray) else a for a in args]))
            except Exception as err:
                return "incorrect", f"your function raised {type(err).__name__}: {err}"
        if all(_not_attempted(out) for out in outputs):
            return "not_attempted", "your function returns nothing yet: write its body."
        problems = [self._same(out, self.reference(*args)) for out, args in zip(outputs, self.cases())]
        if all(p is None for p in problems):
            return "correct", ""
        for mistake in self.mistakes:
            if callable(mistake.value):
                if all(self._same(out, mistake.value(*args)) is None for out, args in zip(outputs, self.cases())):
                    return "known_mistake", mistake.message
        first = next(p for p in problems if p)
        if "shape" in first or "expected" in first:
            return "wrong_shape", f"{first}."
        return "incorrect", f"your function does not give the expected output on every test input ({first})."


class ObjectQuestion(Question):
    """Code that must produce an object (a fitted model, say).

    ``validate(answer)`` returns ``(status, message)``; it may raise, which
    counts as an answer of the wrong kind.
    """

    def __init__(self, set_name, name, prompt, validate: Callable[[Any], tuple[str, str]], *, expected_kind="", **kw):
        super().__init__(set_name, name, prompt, **kw)
        self.validate = validate
        self.expected_kind = expected_kind

    def _check(self, answer):
        message = self._predicate_mistake(answer)
        if message:
            return "known_mistake", message
        try:
            return self.validate(answer)
        except Exception as err:
            return "wrong_type", (f"expected {self.expected_kind or 'a different kind of object'}, got "
                                  f"{_describe(answer)} ({type(err).__name__}: {err}).")


def collect_questions(namespace: dict) -> list[Question]:
    """The questions defined in a module namespace, in order q1, q2, ..."""
    found = [v for k, v in namespace.items() if isinstance(v, Question) and k.startswith("q")]
    return sorted(found, key=lambda q: int(q.name[1:]))


# The student release (graded mode). Added for the grader: lmmteach.tools.release writes each set's
# public module with these questions, which hold no reference values and check only an answer's form;
# the grader judges the answers themselves (lmmteach.tools.judge).

class PublicQuestion(Question):
    """A question of the graded release: ``check`` says whether the answer has the right form, not whether it is right.

    ``kind`` is "number", "array", "choice", "function" or "object"; ``shape``
    (arrays) and ``options`` (choices) are the form the grader expects.
    """

    def __init__(self, set_name, name, prompt, *, kind: str, shape=None, options=None, expected_kind="", **kw):
        super().__init__(set_name, name, prompt, **kw)
        self.kind, self.shape, self.expected_kind = kind, tuple(shape) if shape is not None else None, expected_kind
        self.options = {k.lower(): v for k, v in (options or {}).items()}

    def __repr__(self):
        lines = [f"{self.qid}: {self.prompt}"] + [f"  ({k}) {v}" for k, v in self.options.items()]
        return "\n".join(lines)

    def _form(self, answer) -> str | None:
        """None when ``answer`` has the expected form; otherwise what is wrong with it."""
        if self.kind == "number":
            value = _as_number(answer)
            if value is None:
                return f"expected a single number (int or float), got {_describe(answer)}."
            return None if math.isfinite(value) else f"your answer is {value}; expected a finite number."
        if self.kind == "array":
            try:
                arr = np.asarray(answer, dtype=float)
            except (TypeError, ValueError):
                return f"expected an array of numbers, got {_describe(answer)}."
            if self.shape is not None and arr.shape != self.shape:
                return f"expected an array of shape {self.shape}, got shape {arr.shape}."
            return None
        if self.kind == "choice":
            letters = ", ".join(repr(k) for k in self.options)
            if not isinstance(answer, str) or answer.strip().strip("()").lower() not in self.options:
                return f"expected one letter as a string: one of {letters}."
            return None
        if self.kind == "function":
            return None if callable(answer) else f"expected a function (define it with `def`), got {_describe(answer)}."
        return None

    def check(self, answer: Any = ..., *, quiet: bool = False) -> Result:
        """Say whether ``answer`` has the form the grader expects (the grader judges it after submission)."""
        if _not_attempted(answer):
            status, message = "not_attempted", "replace the `...` with your answer, then run the cell again."
        else:
            problem = self._form(answer)
            status, message = ("wrong_type", problem) if problem else (
                "recorded", "the answer has the expected form; the grader judges it when you submit.")
        if not quiet:
            titles = {"not_attempted": "Not attempted yet", "wrong_type": "Wrong form", "recorded": "Answer in place"}
            _show("hint" if status == "recorded" else status, f"{self.name} - {titles[status]}", message)
        return Result(self.qid, status, message, 0.0, self.points)

    def solution(self) -> None:
        """Solutions are not part of the graded release."""
        _show("solution", f"{self.name} - Solution", "not available in the graded release: ask your instructor.")
