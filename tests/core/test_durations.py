"""Durations: manifest text parsed, and every duration sailjobs shows formatted one way."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runner.durations import format_duration, format_seconds, parse_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (0, "0s"),
        (0.25, "250ms"),
        (0.9996, "1s"),  # rounds up to a whole second, not "1000ms"
        (42.4, "42s"),
        (185, "3m5s"),
        (3725, "1h2m5s"),
        (7200, "2h"),
        (7260, "2h1m"),
        (93784.6, "1d2h3m5s"),
    ],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("seconds", [0.25, 42, 185, 3725, 7200, 93785])
def test_format_seconds_is_read_back_by_parse_duration(seconds):
    assert parse_duration(format_seconds(seconds)) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=1.5), "1.5s"),  # a manifest's value is shown exactly, not rounded
        (timedelta(days=2), "2d"),
    ],
)
def test_format_duration_is_exact(delta, text):
    assert format_duration(delta) == text
    assert parse_duration(text) == delta
