"""Self-checking exercise questions: ``q.check(answer)``, ``q.hint(n)``, ``q.solution()``.

Each exercise set (``ex01``, ``ex02``, ...) builds a few :class:`Question`
objects. ``check`` never raises on a student's answer and never shows the
expected value; it classifies the answer as one of

* ``correct`` -- with one sentence of why it matters
* ``not_attempted`` -- the answer is still ``...`` (or ``None``, or a stub function)
* ``wrong_type`` / ``wrong_shape`` -- the message says what was expected
* ``known_mistake`` -- a targeted message (ML instead of REML, variance instead of SD, ...); a known wrong
  value is recognised by the same rule as the expected one: within the tolerance, or rounded to the digits given
* ``close`` -- near the expected value but outside the tolerance, or the expected value rounded
  to the digits the student gave (the same rule for every numeric question)
* ``incorrect``

shows it (coloured HTML in a notebook, plain text elsewhere) and returns a
:class:`Result`. Expected values are computed lazily (once) from the same data
the student loads. These checks are for practice: the grader never trusts them,
it reads the answers themselves as data and judges them in its own process
(:mod:`lmmteach.exercises.protocol`, :mod:`lmmteach.tools.judge`). Judging an
answer (:meth:`Question._judge`) is a pure function of the question and the
answer; ``check`` adds the display and the set's progress summary
(:func:`progress_summary`, each set's ``check_all()``).
"""

from __future__ import annotations

import html
import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from lmmteach.exercises.protocol import record

__all__ = [
    "ArrayQuestion", "ChoiceQuestion", "FunctionQuestion", "Mistake", "NumericQuestion", "ObjectQuestion",
    "Progress", "PublicQuestion", "Question", "Result", "collect_questions", "progress_summary",
]

_COLOURS = {"correct": "#1b7f3b", "not_attempted": "#555555", "hint": "#1f5fa8", "solution": "#7a4bb3"}
_TITLES = {"correct": "Correct", "not_attempted": "Not attempted yet", "wrong_type": "Wrong type",
           "wrong_shape": "Wrong shape", "known_mistake": "Not quite", "close": "Close", "incorrect": "Incorrect"}


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
                 solution: str = "", points: float = 1.0, mistakes: Sequence[Mistake] = (), why: str = ""):
        self.set_name, self.name, self.prompt = set_name, name, prompt
        self.why = why  # shown with "Correct": one sentence of why it matters
        self.last_result: Result | None = None  # the latest check, for the progress summary
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
        status, message = self._judge(answer)
        result = Result(self.qid, status, message, self.points if status == "correct" else 0.0, self.points)
        self.last_result = result
        record({"question": self.qid, "event": "check", "status": status, "points": result.points,
                 "max_points": self.points})
        if not quiet:
            _show(status, f"{self.name} - {_TITLES[status]}", message)
        return result

    def _judge(self, answer: Any) -> tuple[str, str]:
        """(status, message) for ``answer``: depends on the question and the answer only, never raises.

        Only KeyboardInterrupt passes: a student's ``SystemExit``, an exception whose ``__str__``
        is itself broken, anything a checker trips over becomes a message.
        """
        try:
            if _not_attempted(answer):
                return "not_attempted", "replace the `...` with your answer, then run the cell again."
            status, message = self._check(answer)
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # a checker must never raise on a student's answer
            return "incorrect", f"your answer could not be checked ({_error_text(err)})."
        if status == "correct":
            message = message or self.why
        return status, message

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
                except Exception:  # a predicate that does not apply to this answer
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


def _error_text(err: BaseException) -> str:
    """``Type: message`` of an exception, even when its ``__str__`` is broken."""
    if isinstance(err, SystemExit):
        return "your code called exit() or sys.exit(); remove that call"
    try:
        text = str(err)
    except BaseException:  # a student's exception class with a broken __str__
        text = "(its message cannot be printed)"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _real_array(answer) -> np.ndarray | None:
    """``answer`` as a float array when it holds real numbers only; None for text, complex, True/False, objects."""
    if isinstance(answer, (str, bytes, dict, set)):
        return None
    try:
        arr = np.asarray(answer)
    except Exception:
        return None
    if arr.dtype.kind in "iuf":
        return arr.astype(float)
    if arr.dtype.kind == "O" and arr.size and all(
            isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in arr.reshape(-1)):
        return arr.astype(float)
    return None


def _describe(answer) -> str:
    """What the answer is, for a wrong-type message (never raises)."""
    try:
        if isinstance(answer, (str, bytes)):
            return f"text ({type(answer).__name__}): give the number itself, not a string"
        if isinstance(answer, (bool, np.bool_)):
            return "True/False, not a number"
        if isinstance(answer, complex):
            return "a complex number: the answer is real"
        arr = np.asarray(answer) if isinstance(answer, (list, tuple, np.ndarray)) else None
        if arr is not None and arr.dtype.kind in "cUSb":
            kind = {"c": "complex numbers", "U": "strings", "S": "bytes", "b": "True/False values"}[arr.dtype.kind]
            return f"an array of {kind} of shape {arr.shape}: expected real numbers"
        if isinstance(answer, np.ndarray):
            return f"an array of shape {answer.shape}"
        if hasattr(answer, "shape"):
            return f"a {type(answer).__name__} of shape {tuple(answer.shape)}"
        return f"a value of type {type(answer).__name__}"
    except Exception:
        return f"a value of type {type(answer).__name__}"


def _decimals_shown(value: float) -> int | None:
    """How many decimals ``value`` is written with (8.22 -> 2, 120.0 -> 0); None if it keeps many digits."""
    text = np.format_float_positional(value, trim="-")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return decimals if decimals <= 6 else None


def _rounded_match(value: float, target: float, digits: int = 2) -> int | None:
    """d when ``value`` is ``target`` rounded to d decimals with at least ``digits`` significant digits, else None."""
    decimals = _decimals_shown(value)
    if decimals is None or value == 0 or abs(value) < 10.0 ** (digits - 1 - decimals):
        return None
    return decimals if math.isclose(round(target, decimals), value, rel_tol=1e-9, abs_tol=1e-12) else None


_ROUNDED = ("that is the expected value rounded to {d} decimal(s): give it unrounded (rounding loses the digits "
            "the check compares).")


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
        arr = _real_array(answer)
        if arr is None or arr.size != 1:
            return "wrong_type", f"expected a single number (int or float), got {_describe(answer)}."
        value = float(arr.reshape(-1)[0])
        if not math.isfinite(value):
            return "incorrect", f"your answer is {value}; expected a finite number."
        target = float(self.expected())
        if abs(value - target) <= self.tolerance(target):
            return "correct", ""
        decimals = _rounded_match(value, target)
        if decimals is not None:
            return "close", _ROUNDED.format(d=decimals)
        wrong_values = [(m, float(m.wrong_value())) for m in self.mistakes if m.value is not None]
        for mistake, wrong in wrong_values:
            tol = self.tolerance(wrong) if mistake.rtol is None else mistake.rtol * abs(wrong) + mistake.atol
            if abs(value - wrong) <= tol:
                return "known_mistake", mistake.message
        for mistake, wrong in wrong_values:  # a mistake rounded to the digits shown is the same mistake
            if _rounded_match(value, wrong) is not None:
                return "known_mistake", mistake.message
        message = self._predicate_mistake(value)
        if message:
            return "known_mistake", message
        if abs(value - target) <= self.close_factor * self.tolerance(target):
            return "close", "close, but outside the tolerance: check rounding and the last step."
        return "incorrect", "that is not the expected value."


class ArrayQuestion(Question):
    """An array of a given shape, correct elementwise within ``rtol``/``atol``.

    ``tol``: absolute tolerances computed once (one per element, Monte Carlo error), used instead of them.
    """

    def __init__(self, set_name, name, prompt, expected, *, rtol=1e-6, atol=1e-8, tol=None, order="",
                 close_factor=100.0, **kw):
        super().__init__(set_name, name, prompt, **kw)
        self.expected = _cached(expected)
        self.rtol, self.atol, self.close_factor = rtol, atol, close_factor
        self.tol = _cached(tol) if tol is not None else None
        self.order = order  # the order the values must come in, named in the message for a permutation

    def _within(self, a, b, factor=1.0) -> np.ndarray:
        """Elementwise: is ``a`` within ``factor`` tolerances of ``b`` (same shape)?"""
        if self.tol is not None:
            return np.abs(a - b) <= factor * np.broadcast_to(self.tol(), b.shape)
        return np.isclose(a, b, rtol=self.rtol * factor, atol=self.atol * factor)

    def _close(self, a, b, factor=1.0):
        return a.shape == b.shape and bool(np.all(self._within(a, b, factor)))

    def _permutation(self, arr, target) -> bool:
        """Are these the expected values in another order?"""
        if arr.shape != target.shape or arr.size < 2:
            return False
        flat, want = arr.reshape(-1), target.reshape(-1)
        if self.tol is None:
            return self._close(np.sort(flat), np.sort(want))
        return flat.size <= 6 and any(self._close(flat[list(order)], want)
                                      for order in itertools.permutations(range(flat.size)))

    def _rounded(self, arr, values) -> int | None:
        """d when ``arr`` is ``values`` rounded to (at most) d decimals, as a printed table shows them, else None.

        Small entries may keep one significant digit (or be within the tolerance), but not all of them.
        """
        if arr.shape != values.shape:
            return None
        pairs = list(zip(arr.reshape(-1).tolist(), values.reshape(-1).tolist()))
        rounded = [_rounded_match(a, v, digits=1) for a, v in pairs]
        within = self._within(arr, values).reshape(-1)
        informative = any(_rounded_match(a, v) is not None for a, v in pairs)
        if informative and all(r is not None or ok for r, ok in zip(rounded, within)):
            return max(r for r in rounded if r is not None)
        return None

    def _check(self, answer):
        arr = _real_array(answer)
        if arr is None:
            return "wrong_type", f"expected an array of numbers, got {_describe(answer)}."
        target = np.asarray(self.expected(), dtype=float)
        if self._close(arr, target):
            return "correct", ""
        if self._permutation(arr, target):
            return "known_mistake", ("the right values in the wrong order: give them in the order "
                                     f"{self.order or 'the question asks for'}.")
        message = self._predicate_mistake(arr)
        if message:
            return "known_mistake", message
        if arr.shape != target.shape:
            if arr.size == target.size:
                return "wrong_shape", f"expected shape {target.shape}, got {arr.shape}: reshape or flatten it."
            return "wrong_shape", f"expected an array of shape {target.shape}, got shape {arr.shape}."
        wrong_values = [(m, np.asarray(m.wrong_value(), float)) for m in self.mistakes if m.value is not None]
        for mistake, wrong in wrong_values:
            if self._close(arr, wrong):
                return "known_mistake", mistake.message
        decimals = self._rounded(arr, target)
        if decimals is not None:
            return "close", ("your values are the expected ones rounded to the digits you gave (up to "
                             f"{decimals} decimal(s)): give them unrounded.")
        for mistake, wrong in wrong_values:  # a mistake rounded to the digits shown is the same mistake
            if self._rounded(arr, wrong) is not None:
                return "known_mistake", mistake.message
        if self._close(arr, target, self.close_factor):
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
        g = _real_array(got)
        if g is None:
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
            except KeyboardInterrupt:
                raise
            except BaseException as err:
                return "incorrect", f"your function raised {_error_text(err)}"
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
                                  f"{_describe(answer)} ({_error_text(err)}).")


def collect_questions(namespace: dict) -> list[Question]:
    """The questions defined in a module namespace, in order q1, q2, ..."""
    found = [v for k, v in namespace.items() if isinstance(v, Question) and k.startswith("q")]
    return sorted(found, key=lambda q: int(q.name[1:]))


class Progress(dict):
    """{question: latest status} of one set; shown by :func:`progress_summary`, so not displayed again."""

    def _ipython_display_(self):
        return None


def progress_summary(questions: Sequence[Question]) -> Progress:
    """Show where a set stands (the latest check of each question) and return {question: status}."""
    statuses = {q.name: q.last_result.status if q.last_result is not None else "not checked yet" for q in questions}
    points = sum(q.last_result.points for q in questions if q.last_result is not None)
    total = sum(q.points for q in questions)
    lines = [f"{name}: {_TITLES.get(status, status)}" for name, status in statuses.items()]
    done = sum(status == "correct" for status in statuses.values())
    kind = "correct" if done == len(questions) else "not_attempted"
    _show(kind, f"{questions[0].set_name} progress - {done} of {len(questions)} correct ({points:g}/{total:g} points)",
          "", "\n".join(lines))
    return Progress(statuses)


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
