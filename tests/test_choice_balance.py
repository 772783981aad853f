"""Multiple-choice questions across the course: the right option is not predictable from its position or length.

A student who always answers the same letter, or always picks the longest (or
shortest) option, must not do much better than chance over the whole course.
"""

import math
from collections import Counter

import pytest

from lmmteach.exercises import ex01, ex02, ex03, ex04, ex05
from lmmteach.exercises.questions import ChoiceQuestion

CHOICES = [q for module in (ex01, ex02, ex03, ex04, ex05) for q in module.QUESTIONS if isinstance(q, ChoiceQuestion)]
LETTERS = "abcd"
# Chance is one in four; allow one question above a fair share before a strategy counts as a tell.
MOST_A_STRATEGY_MAY_WIN = math.ceil(len(CHOICES) / len(LETTERS)) + 1


def _lengths(question):
    return {letter: len(text) for letter, text in question.options.items()}


def test_every_choice_question_has_four_options():
    assert len(CHOICES) >= 8
    for q in CHOICES:
        assert sorted(q.options) == list(LETTERS), q.qid


def test_no_letter_is_right_much_more_often_than_chance():
    counts = Counter(q.answer for q in CHOICES)
    assert set(counts) == set(LETTERS), counts  # every position is the right one somewhere
    assert max(counts.values()) <= MOST_A_STRATEGY_MAY_WIN, counts


@pytest.mark.parametrize("pick", [max, min], ids=["longest", "shortest"])
def test_picking_by_length_does_not_beat_chance(pick):
    wins = []
    for q in CHOICES:
        lengths = _lengths(q)
        if lengths[q.answer] == pick(lengths.values()):
            wins.append(q.qid)
    assert len(wins) <= MOST_A_STRATEGY_MAY_WIN, wins


@pytest.mark.parametrize("question", CHOICES, ids=[q.qid for q in CHOICES])
def test_the_right_option_is_not_conspicuously_long_or_short(question):
    lengths = _lengths(question)
    others = [n for letter, n in lengths.items() if letter != question.answer]
    ratio = lengths[question.answer] / (sum(others) / len(others))
    assert 0.8 <= ratio <= 1.25, (question.qid, lengths)


@pytest.mark.parametrize("question", CHOICES, ids=[q.qid for q in CHOICES])
def test_every_wrong_option_explains_itself(question):
    wrong = set(question.options) - {question.answer}
    assert set(question.feedback) == wrong, question.qid
