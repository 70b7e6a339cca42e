"""bench.delivery_ab: the paired statistics it prints (its flags: test_arguments.py).
A real run, this tree against itself, is part of ``make bench-smoke``."""

from pathlib import Path

import pytest

from bench import delivery_ab


def test_the_difference_is_paired_slice_by_slice():
    # The machine slowed down half way: each pair moved together, so the
    # paired difference is exact although both sides' spreads are wide.
    ours = [100.0, 101.0, 150.0, 151.0]
    theirs = [110.0, 111.0, 160.0, 161.0]
    mean, half = delivery_ab.compare(ours, theirs)
    assert mean == pytest.approx(-10.0)
    assert half == pytest.approx(0.0)
    mean, half = delivery_ab.compare([1.0, 3.0, 2.0], [0.0, 0.0, 0.0])
    # mean 2, standard error 1/sqrt(3), t(0.975, 2 degrees of freedom) = 4.303
    assert (mean, half) == (pytest.approx(2.0), pytest.approx(4.303 / 3**0.5, rel=1e-3))


def test_the_report_has_each_component_and_their_sum():
    ours = [
        {"worker": 200.0, "postgres": 50.0, "sink": 25.0},
        {"worker": 210.0, "postgres": 52.0, "sink": 25.0},
    ]
    theirs = [
        {"worker": 220.0, "postgres": 50.0, "sink": 25.0},
        {"worker": 232.0, "postgres": 52.0, "sink": 25.0},
    ]
    text = delivery_ab.report({"this tree": ours, "against": theirs}, Path("/tmp/before"))
    lines = {line.split()[0]: line.split() for line in text.splitlines()[2:]}
    assert set(lines) == {"worker", "postgres", "sink", "all"}
    assert lines["worker"][1:4] == ["205.0", "226.0", "-21.0"]
    assert lines["all"][1:4] == ["281.0", "302.0", "-21.0"]
    assert lines["postgres"][-1] == "+0.0%"
    assert "this tree - /tmp/before" in text
