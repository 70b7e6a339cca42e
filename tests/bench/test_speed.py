"""The machine-speed calibration every ``python -m bench`` run records at its start and end."""

import jinja2
import pytest

from bench import speed
from tests.campaigns.samples import NEWSLETTER_HTML


def test_the_calibration_context_fills_every_name_the_sample_body_reads():
    # StrictUndefined raises on a missing name: the calibration renders the
    # whole email, not an email of blanks that would time faster.
    template = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = template.from_string(NEWSLETTER_HTML).render(speed._context())
    assert "Hello Ada," in html
    assert "in London" in html
    assert "As a VIP" in html
    assert html.count("Book number") == 4
    assert "15.50 EUR" in html
    assert "01 Dec 2026" in html


def test_the_calibration_is_cpu_microseconds_per_render():
    us = speed.machine_speed(rounds=2, round_seconds=0.02, warm_up_seconds=0.02)
    # A 5 KB body: tens to hundreds of µs on any machine this runs on.
    assert 1 < us < 10_000


def test_a_zero_length_round_still_times_renders():
    assert speed.machine_speed(rounds=1, round_seconds=0, warm_up_seconds=0) > 0


def test_a_run_is_labelled_with_its_calibration_at_start_and_end():
    label = speed.speed_range({"speed_at_start_us": 91.4, "speed_at_end_us": 118.6})
    assert label == "sample render 91 → 119 µs"


def test_no_rounds_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="machine_speed needs at least one round"):
        speed.machine_speed(rounds=0, warm_up_seconds=0)
