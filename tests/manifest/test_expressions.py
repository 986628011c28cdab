"""The ${{ }} language: parsing, references, rendering, filters; nothing runs as code."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.manifest.expressions import (
    FILTERS,
    EvalContext,
    ExpressionError,
    Reference,
    bind_each,
    has_expression,
    iter_templates,
    parse_template,
    references,
    render,
)
from runner.masking import mask

RUN_DATE = date(2026, 11, 27)


@pytest.fixture
def ctx() -> EvalContext:
    return EvalContext(
        vars={"main_list": "Main Newsletter", "days": 7, "nested": {"a": {"b": "deep"}}},
        env={"SLACK_WEBHOOK": "https://hooks.example.com/T0/B0/secretvalue"},
        run={
            "id": "run-1",
            "date": RUN_DATE,
            "started_at": datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        },
        jobs={"export-main": {"export_url": "https://s3.example.com/x", "job_id": "abc"}},
    )


def test_a_whole_expression_keeps_the_native_type(ctx):
    assert render("${{ vars.days }}", ctx) == 7
    assert render("${{ run.date }}", ctx) == RUN_DATE
    assert render("${{ 5 }}", ctx) == 5
    assert render("${{ true }}", ctx) is True
    assert render("${{ null }}", ctx) is None


def test_interpolation_makes_text(ctx):
    assert render("list: ${{ vars.main_list }} (${{ vars.days }} days)", ctx) == (
        "list: Main Newsletter (7 days)"
    )
    assert render("${{ run.date }}.csv", ctx) == "2026-11-27.csv"
    assert render("x${{ true }}y${{ null }}z", ctx) == "xtrueyz"


def test_render_walks_nested_values_and_leaves_other_values_alone(ctx):
    value = {"a": ["${{ vars.days }}", {"b": "${{ vars.nested.a.b }}"}], "c": 3, "d": None}
    assert render(value, ctx) == {"a": [7, {"b": "deep"}], "c": 3, "d": None}


def test_job_outputs_and_names_with_dashes(ctx):
    assert render("${{ jobs.export-main.outputs.export_url }}", ctx) == "https://s3.example.com/x"
    assert render("${{ vars['main_list'] }}", ctx) == "Main Newsletter"


def test_date_filters(ctx):
    assert render("${{ run.date | days_ago(7) | yyyymmdd }}", ctx) == "20261120"
    assert render("${{ run.date | yyyymmdd }}", ctx) == "20261127"
    assert render("${{ run.date | add_days(-30) | date }}", ctx) == "2026-10-28"
    assert render("${{ run.date | date('%d/%m/%Y') }}", ctx) == "27/11/2026"
    assert render("${{ run.started_at | date('%H:%M') }}", ctx) == "09:30"
    assert render("${{ run.date | month_start | days_ago(1) | month_start | yyyymmdd }}", ctx) == (
        "20261001"
    )
    assert render("${{ '20240215' | month_end | yyyymmdd }}", ctx) == "20240229"
    assert render("${{ '2024-12-31' | add_days(1) | yyyymmdd }}", ctx) == "20250101"


def test_text_filters(ctx):
    assert render("${{ vars.main_list | slug }}", ctx) == "main-newsletter"
    assert render("${{ vars.main_list | upper }}", ctx) == "MAIN NEWSLETTER"
    assert render("${{ ' x ' | trim }}", ctx) == "x"
    assert render("${{ '42' | int }}", ctx) == 42


def test_default_covers_missing_null_and_empty(ctx):
    assert render("${{ env.NOT_SET | default('fallback') }}", ctx) == "fallback"
    assert render("${{ vars.nope | default(3) }}", ctx) == 3
    assert render("${{ null | default('x') }}", ctx) == "x"
    assert render("${{ vars.main_list | default('x') }}", ctx) == "Main Newsletter"


def test_missing_names_raise_clear_errors(ctx):
    with pytest.raises(ExpressionError, match="environment variable NOT_SET is not set"):
        render("${{ env.NOT_SET }}", ctx)
    with pytest.raises(ExpressionError, match=r"vars.nope is not defined"):
        render("${{ vars.nope }}", ctx)
    with pytest.raises(ExpressionError, match=r"jobs.other.outputs.export_url is not available"):
        render("${{ jobs.other.outputs.export_url }}", ctx)


def test_non_strict_rendering_keeps_unknown_job_outputs_as_written(ctx):
    text = "url=${{ jobs.later.outputs.export_url }}&d=${{ run.date | yyyymmdd }}"
    assert render(text, ctx, strict=False) == (
        "url=${{ jobs.later.outputs.export_url }}&d=20261127"
    )


def test_env_values_are_registered_as_secrets(ctx):
    webhook = render("${{ env.SLACK_WEBHOOK }}", ctx)
    assert mask(f"posting to {webhook}") == "posting to ***"


def test_vars_may_read_env_and_are_rendered_when_read(ctx):
    ctx.vars["bucket"] = "exports-${{ env.SLACK_WEBHOOK | slug }}"
    assert render("${{ vars.bucket }}", ctx).startswith("exports-https-hooks")


@pytest.mark.parametrize(
    ("written", "meant"),
    [("yyyy_mm_dd", "yyyymmdd"), ("daysAgo", "days_ago"), ("UPPER", "upper"), ("trm", "trim")],
)
def test_an_unknown_filter_says_which_one_was_meant(written: str, meant: str):
    with pytest.raises(ExpressionError) as caught:
        parse_template(f"${{{{ run.date | {written} }}}}")
    assert f"unknown filter {written!r}; did you mean {meant!r}? filters: " in str(caught.value)


def test_an_unknown_filter_far_from_any_lists_them_without_a_guess():
    with pytest.raises(ExpressionError, match=r"unknown filter 'base64'; filters: add_days, "):
        parse_template("${{ run.date | base64 }}")


def test_filter_errors_at_render_time(ctx):
    with pytest.raises(ExpressionError, match="days_ago needs a date"):
        render("${{ vars.main_list | days_ago(1) }}", ctx)
    with pytest.raises(ExpressionError, match="int needs a whole number"):
        render("${{ vars.main_list | int }}", ctx)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${{ secrets.X }}", "unknown name 'secrets'"),
        ("${{ vars.x | nope }}", "unknown filter 'nope'"),
        ("${{ vars.x", "`${{` is not closed"),
        ("${{ run.day }}", "unknown run field 'run.day'"),
        ("${{ jobs.a.export_url }}", "jobs.<job-id>.outputs.<name>"),
        ("${{ env.A.B }}", "name one environment variable"),
        ("${{ vars }}", "name a variable"),
        ("${{ run.date | days_ago }}", "takes 1 argument(s), got 0"),
        ("${{ run.date | days_ago(1, 2) }}", "takes 1 argument(s), got 2"),
        ("${{ run.date | days_ago('x') }}", "needs int argument"),
        ("${{ run.date | days_ago(true) }}", "needs int argument"),
        ("${{ vars.x y }}", "expected `|`, `==`, `!=`, `and`, `or` or `}}`"),
        ("${{ __import__('os').system('id') }}", "unknown name '__import__'"),
        ("${{ vars.x; rm -rf / }}", "unexpected character ';'"),
        ("${{ 'a' + 'b' }}", "unexpected character '+'"),
        ("${{ }}", "expected a value"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(ExpressionError) as caught:
        parse_template(text)
    assert message in caught.value.message


def test_error_offsets_point_into_the_text():
    with pytest.raises(ExpressionError) as caught:
        parse_template("abc ${{ vars.x | nope }}")
    assert caught.value.offset == len("abc ${{ vars.x | ")


def test_references_walk_nested_values_and_mark_defaults_optional():
    value = {
        "a": ["${{ env.A }} and ${{ jobs.x.outputs.y }}"],
        "b": "${{ env.B | default('b') }}",
        "c": "${{ vars.n | upper }}",
        "d": "plain",
    }
    assert references(value) == {
        Reference("env", ("A",)),
        Reference("jobs", ("x", "outputs", "y")),
        Reference("env", ("B",), optional=True),
        Reference("vars", ("n",)),
    }


def test_quoted_literals_may_hold_closing_braces_and_escapes(ctx):
    assert render("${{ '}}' }}", ctx) == "}}"
    assert render(r"${{ 'it\'s' }}", ctx) == "it's"
    assert render('${{ "a|b" }}', ctx) == "a|b"


def test_has_expression():
    assert has_expression({"a": [1, "x ${{ vars.y }}"]})
    assert not has_expression({"a": [1, "x $ {{ y }}"]})


def test_every_filter_is_documented():
    assert all(spec.help for spec in FILTERS.values())


@given(st.text().filter(lambda t: "${{" not in t))
def test_text_without_expressions_renders_unchanged(text):
    assert render(text, EvalContext()) == text


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)), st.integers(0, 3650))
def test_days_ago_and_add_days_are_inverse(day, days):
    ctx = EvalContext(run={"date": day})
    earlier = render(f"${{{{ run.date | days_ago({days}) }}}}", ctx)
    assert render(f"${{{{ '{earlier.isoformat()}' | add_days({days}) }}}}", ctx) == day
    assert render("${{ run.date | yyyymmdd }}", ctx) == day.strftime("%Y%m%d")


@given(st.text(alphabet="abcxyz|.()'\"${} 0123456789,-_[]", max_size=40))
def test_the_parser_never_crashes_on_garbage(text):
    with contextlib.suppress(ExpressionError):
        parse_template(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${{ run.date | days_ago(99999999999) }}", "days_ago(99999999999) leaves the calendar"),
        ("${{ run.date | add_days(3000000) }}", "add_days(3000000) leaves the calendar"),
        ("${{ '9999-12-31' | add_days(1) }}", "add_days(1) leaves the calendar"),
        ("${{ vars.huge | int }}", "int needs a whole number, got inf"),
        ("${{ '9999-12-15' | month_end }}", "filter 'month_end' failed: date value out of range"),
    ],
)
def test_filters_out_of_range_are_expression_errors_not_crashes(ctx, text, message):
    ctx.vars["huge"] = float("inf")
    with pytest.raises(ExpressionError) as caught:
        render(text, ctx)
    assert message in caught.value.message


def test_a_number_too_long_for_int_is_a_parse_error():
    with pytest.raises(ExpressionError) as caught:
        parse_template("${{ run.date | days_ago(" + "9" * 5000 + ") }}")
    assert caught.value.message == "a number of 5,000 digits; write at most 30"
    assert caught.value.offset == len("${{ run.date | days_ago(")


class _CountedText(str):
    """A text that counts how often it is searched (as an alias shares one text)."""

    searches = 0

    def __contains__(self, part: object) -> bool:
        _CountedText.searches += 1
        return super().__contains__(part)  # type: ignore[operator]


def test_a_long_text_met_again_through_an_alias_is_scanned_once():
    # Issue 13: one 1 MB anchor aliased 100,000 times was searched for `${{` 100,000 times.
    text = _CountedText("x" * 4096)
    data = {"a": text, "b": [text, text, {"c": text}], "d": "${{ run.date }}"}
    plain: set[int] = set()
    found = list(iter_templates(data, (), plain)) + list(iter_templates([text], (), plain))
    assert found == [(("d",), "${{ run.date }}")]
    assert _CountedText.searches == 1


# --- which env values are secrets (issue 13, item 5) ------------------------------------------


@pytest.mark.parametrize("filters", ["trim", "upper", "slug", "trim | upper", "lower | slug"])
def test_a_value_derived_from_a_secret_by_filters_is_masked(filters):
    env = {"CRM_TOKEN": "  Tok3n Value With Spaces  "}
    value = render(f"${{{{ env.CRM_TOKEN | {filters} }}}}", EvalContext(env=env))
    assert value and mask(f"param: {value}") == "param: ***"


def test_an_ordinary_env_value_is_not_masked():
    value = render("${{ env.LIST_NAME }}", EvalContext(env={"LIST_NAME": "Main Newsletter"}))
    assert mask(f"list: {value}") == "list: Main Newsletter"


def test_env_names_listed_as_secrets_are_masked():
    ctx = EvalContext(env={"LIST_NAME": "Hidden List"}, secret_env=frozenset({"LIST_NAME"}))
    value = render("${{ env.LIST_NAME | slug }}", ctx)
    assert value == "hidden-list"
    assert mask("Hidden List / hidden-list") == "*** / ***"


# --- conditions (if:) and each -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${{ vars.days == 7 }}", True),
        ("${{ vars.days == 7.0 }}", True),  # numbers as numbers
        ("${{ vars.days == '7' }}", True),  # a number against text: as written
        ("${{ vars.days != 7 }}", False),
        ("${{ run.date == '2026-11-27' }}", True),  # a date against text: as written
        ("${{ vars.main_list == 'Main Newsletter' }}", True),
        ("${{ vars.main_list | slug == 'main-newsletter' }}", True),  # filters bind tighter
        ("${{ true == 'true' }}", True),  # as it reads: a --var value is text
        ("${{ false != 'false' }}", False),
        ("${{ true == 1 }}", False),
        ("${{ null == '' }}", False),  # null equals only null
        ("${{ null == null }}", True),
        ("${{ not vars.days }}", False),
        ("${{ not '' }}", True),
        ("${{ not not 0 }}", False),
        ("${{ vars.days == 7 and vars.main_list == 'x' }}", False),
        ("${{ vars.days == 8 or vars.main_list != 'x' }}", True),
        ("${{ true or false and false }}", True),  # and binds tighter than or
        ("${{ (true or false) and false }}", False),
        ("${{ not (vars.days == 7) }}", False),
        ("${{ jobs.export-main.outputs.job_id == 'abc' }}", True),
    ],
)
def test_conditions(ctx, text, expected):
    assert render(text, ctx) is expected


def test_and_or_stop_at_the_first_deciding_value(ctx):
    # the second operand is never read: a missing name there is no error
    assert render("${{ false and vars.nope }}", ctx) is False
    assert render("${{ true or vars.nope }}", ctx) is True
    with pytest.raises(ExpressionError, match=r"vars\.nope is not defined in vars"):
        render("${{ true and vars.nope }}", ctx)


def test_a_condition_lists_every_name_it_reads():
    template = parse_template("${{ vars.a == 'x' and not (env.B or jobs.j.outputs.c) }}")
    assert [str(ref) for ref in template.expressions[0].references] == [
        "vars.a",
        "env.B",
        "jobs.j.outputs.c",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${{ vars.a = 'x' }}", "unexpected character '='"),
        ("${{ vars.a == }}", "expected a value"),
        ("${{ (vars.a == 'x' }}", "expected ')'"),
        ("${{ vars.a and }}", "expected a value"),
        ("${{ each.name }}", "unknown field 'each.name'; a for_each instance reads each.value"),
        ("${{ not }}", "expected a value"),
    ],
)
def test_condition_parse_errors(text, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse_template(text)


def test_each_is_written_into_a_jobs_text_once_per_instance():
    job = {
        "list": "${{ each.value }}",
        "index": "${{ each.index }}",
        "path": "x/${{ each.value | slug }}-${{ run.date | yyyymmdd }}.csv",
        "if": "${{ each.value != 'VIP' }}",
        "quoted": "${{ each.value }}",
    }
    bound = bind_each(job, "Main Newsletter", 2)
    assert bound["list"] == "Main Newsletter" and bound["index"] == 2
    assert bound["if"] is True  # read nothing else: decided now
    # still reading run.*: resolved at run time, with the value written in
    assert render(bound["path"], EvalContext(run={"date": RUN_DATE})) == (
        "x/main-newsletter-20261127.csv"
    )
    # a value is data, never expression text: quotes and backslashes stay as they are
    assert bind_each("${{ each.value }}", "it's \\ ok", 0) == "it's \\ ok"


def test_each_outside_a_for_each_job_cannot_be_resolved():
    with pytest.raises(ExpressionError, match=r"each\.value is read only in a job with for_each"):
        render("${{ each.value }}", EvalContext())


def test_an_unquoted_instance_id_is_refused_with_how_to_write_it():
    with pytest.raises(ExpressionError) as caught:
        parse_template("${{ jobs.export-lists[VIP].outputs.filename }}")
    assert caught.value.message == (
        "expected a quoted name inside [ ]; a for_each instance is read as "
        "jobs['export-lists[<value>]'].outputs.<name>"
    )
