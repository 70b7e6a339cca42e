"""What a template may not do: escape the sandbox, or make a worker wait. No database."""

import time

import pytest

from campaigns.rendering import RenderFailed, render_email, sample_context
from campaigns.rendering.composed import composed
from campaigns.rendering.text import text_template_from_html


def render(html, context=None):
    context = context or sample_context()
    return render_email(
        subject="Hello",
        preheader="",
        html=html,
        text="",
        context=context,
        unsubscribe_url=context["unsubscribe_url"],
        preferences_url=context["preferences_url"],
    )


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("{{ ''.__class__.__mro__ }}", "'__class__' is private"),
        ("{{ customer.__dict__ }}", "'__dict__' is private"),
        ("{{ customer['__class__'] }}", "'__class__' is private"),
        ("{{ ''|attr('__class__') }}", "'__class__' is private"),
        ("{{ cycler.__init__.__globals__ }}", "'__init__' is private"),
        ("{{ self._TemplateReference__context }}", "'_TemplateReference__context' is private"),
        ("{{ '{0.__class__}'.format(customer) }}", "'__class__' is private"),
        ("{{ range.__self__ }}", "'__self__' is private"),
        ("{{ customer.attributes.clear() }}", "'clear' of a dict may not be used"),
        ("{{ recent_events.append(1) }}", "'append' of a list may not be used"),
        ("{{ customer.attributes.update(vip=False) }}", "'update' of a dict may not be used"),
        ("{{ lipsum(5) }}", "'lipsum' is undefined"),
    ],
)
def test_it_refuses_sandbox_escapes_with_a_reason(html, reason):
    with pytest.raises(RenderFailed) as failed:
        render(html)

    assert (failed.value.part, failed.value.line) == ("html", 1)
    assert reason in failed.value.reason


def test_it_leaves_the_context_unchanged():
    context = sample_context()

    with pytest.raises(RenderFailed):
        render("{{ recent_events.pop() }}", context)

    assert context == sample_context()


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "range() of 1,000,000,000 items"),
        ("{{ 'x' * 10**9 }}", "this multiplication would make a value"),
        ("{{ [1] * 10**9 }}", "this multiplication would make a value"),
        ("{{ (2 ** 4000) }}", "this power makes a number over 1024 bits"),
        (
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            "loops ran more than 100,000 times",
        ),
        (
            "{% set s = 'x' * 90000 %}{% for i in range(10000) %}{{ s }}{% endfor %}",
            "the html part grew past 1,000,000 characters",
        ),
        (
            "{% set s = 'x' * 90000 %}" + "{{ s }}" * 20,
            "the html part grew past 1,000,000 characters",
        ),
        (
            "{% set ns = namespace(s='xx') %}"
            "{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "a value grew past the limit",
        ),
        (
            "{% set ns = namespace(l=[1]) %}"
            "{% for i in range(60) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}",
            "a value grew past the limit",
        ),
        (
            "{% filter upper %}"
            "{% for i in range(10000) %}{{ 'x' * 90000 }}{% endfor %}{% endfilter %}",
            "the template produced more than 10,000,000 characters",
        ),
        ("{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}", "call themselves too deeply"),
        (
            "{% for i in [1] recursive %}{{ loop([1, 2]) }}{% endfor %}",
            "call themselves too deeply",
        ),
        ("{{ (10).to_bytes(10**9, 'big') }}", "'to_bytes' of a int may not be used"),
        ("{{ 'x'.center(10**9) }}", "a width of 1,000,000,000 is over the limit"),
        ("{{ 'x'|center(10**9) }}", "a width of 1,000,000,000 is over the limit"),
        ("{{ '%999999999d' % 1 }}", "a format width of 999999999 is over the limit"),
        ("{{ '%*d' % (10**9, 1) }}", "'*' widths in % formatting are not allowed"),
        ("{{ '{:>999999999}'.format(1) }}", "a format width of 999999999 is over the limit"),
        ("{{ '{:>{}}'.format(1, 10**9) }}", "format widths taken from arguments"),
        ("{{ ('x' * 90000).replace('', 'yy') }}", "replace() would make a value"),
        ("{{ range(10000)|join('y' * 90000) }}", "join would make a value"),
        ("{{ [1]|batch(10**9, 'x')|list }}", "linecount of 1,000,000,000 is over the limit"),
        (
            "{% set big = range(10000)|list %}"
            "{% for i in range(10000) %}{% if -1 in big %}{% endif %}{% endfor %}",
            "rendering took longer than 0.5 s",
        ),
    ],
)
def test_it_stops_runaway_templates_fast(html, reason):
    started = time.monotonic()

    with pytest.raises(RenderFailed) as failed:
        render(html)

    assert time.monotonic() - started < 2  # a guard against stalling, not a benchmark
    assert reason in failed.value.reason


def test_it_reports_the_line_of_a_runtime_error():
    html = "<p>one</p>\n<p>two</p>\n{% for event in recent_events %}\n{{ 1 / 0 }}\n{% endfor %}"

    with pytest.raises(RenderFailed) as failed:
        render(html)

    assert str(failed.value) == "html, line 4: ZeroDivisionError: division by zero"


def test_it_fails_arithmetic_on_an_undefined_value():
    with pytest.raises(RenderFailed, match="'dict object' has no attribute 'nope'"):
        render("{{ customer.nope + 1 }}")


def test_it_stops_a_slow_composed_template_once_and_reports_its_line():
    html = (
        "{% set big = range(10000)|list %}\n<p>x</p>\n"
        "{% for i in range(10000) %}{% if -1 in big %}{% endif %}{% endfor %}"
    )
    assert composed(html, text_template_from_html(html)) is not None  # composed before the clock
    started = time.monotonic()

    with pytest.raises(RenderFailed) as failed:
        render(html)

    # Not rendered a second time the per-email way: that would take as long again.
    assert time.monotonic() - started < 0.9
    assert (failed.value.part, failed.value.line) == ("html", 3)
    assert failed.value.reason == "rendering took longer than 0.5 s"
