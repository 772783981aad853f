"""The one progress switch: on for a person, off under tests, CI and the course's runner."""

import pytest

from lmmteach import progress


@pytest.mark.parametrize("env, expected", [
    ({}, True),
    ({"CI": "true"}, False),
    ({"PYTEST_CURRENT_TEST": "tests/x.py::t (call)"}, False),
    ({"LMMTEACH_PROGRESS": "0"}, False),
    ({"LMMTEACH_PROGRESS": "1", "CI": "true"}, True),
])
def test_enabled_follows_the_environment(monkeypatch, env, expected):
    for name in ("CI", "PYTEST_CURRENT_TEST", progress.ENV_VAR):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert progress.enabled() is expected
    assert progress.enabled(not expected) is (not expected)   # an explicit choice wins


def test_track_yields_everything_with_and_without_a_bar(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV_VAR, "0")
    assert list(progress.track(range(5), "quiet")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().out == ""
    monkeypatch.setenv(progress.ENV_VAR, "1")
    assert list(progress.track(iter("abc"), "shown", total=3)) == ["a", "b", "c"]


def test_the_test_session_is_silent():
    assert not progress.enabled()
