"""The save-time check of a variant's templates. No database."""

from campaigns.rendering import TemplateProblem, template_check
from tests.campaigns.samples import NEWSLETTER_HTML, NEWSLETTER_PREHEADER, NEWSLETTER_SUBJECT


def check(subject="Hello", preheader="", html="<p>Hi</p>", text=""):
    return template_check(subject=subject, preheader=preheader, html=html, text=text)


def test_it_accepts_a_good_variant():
    assert check(NEWSLETTER_SUBJECT, NEWSLETTER_PREHEADER, NEWSLETTER_HTML) == []


def test_it_reports_a_syntax_error_with_part_and_line():
    html = "\n".join(["<p>line</p>"] * 11 + ["<p>{{ customer.first_name }</p>"])

    assert check(html=html) == [TemplateProblem("html", 12, "unexpected '}'")]
    assert str(check(html=html)[0]) == "html, line 12: unexpected '}'"


def test_it_reports_syntax_errors_in_every_part():
    problems = check(
        subject="Hi {{ customer.first_name",
        preheader="{% if %}",
        html="<p>\n{% for x in recent_events %}</p>",
        text="ok\n\n{{ 1 + }}",
    )

    assert [(problem.part, problem.line) for problem in problems] == [
        ("subject", 1),
        ("preheader", 1),
        ("html", 2),
        ("text", 3),
    ]


def test_it_reports_an_unknown_variable_in_a_branch_the_sample_does_not_take():
    html = (
        "{% if customer.attributes.vip %}\n<p>VIP</p>\n"
        "{% else %}\n<p>{{ custmer.first_name }}</p>\n{% endif %}"
    )

    assert check(html=html) == [TemplateProblem("html", 4, "'custmer' is not a known variable")]


def test_it_reports_an_undefined_attribute_from_the_sample_render():
    problems = check(subject="Hi {{ customer.frist_name }}")

    assert problems == [
        TemplateProblem("subject", 1, "'dict object' has no attribute 'frist_name'")
    ]


def test_it_lets_unknown_attribute_and_property_keys_through():
    html = (
        "{{ customer.attributes.nickname }}{% if customer.attributes.pet.name %}x{% endif %}"
        "{% for event in recent_events %}{{ event.properties.colour }}{% endfor %}"
    )

    assert check(html=html) == []


def test_it_reports_a_forbidden_link():
    problems = check(html='<p><a href="javascript:alert(1)">x</a></p>')

    assert problems == [
        TemplateProblem(
            "html",
            None,
            "link 'javascript:alert(1)' uses javascript:, but only http, https, mailto links"
            " are allowed",
        )
    ]


def test_it_reports_a_sandbox_escape():
    assert check(html="<p>\n{{ ''.__class__ }}</p>") == [
        TemplateProblem(
            "html",
            2,
            "'__class__' is private: templates may not use names that start with an underscore",
        )
    ]


def test_it_reports_a_template_over_the_size_limit():
    problems = check(text="x" * 300_000)

    assert [(problem.part, problem.message[:26]) for problem in problems] == [
        ("text", "the template is 300,000 ch")
    ]
