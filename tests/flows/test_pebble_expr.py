"""The Pebble evaluator the flow tests use reads expressions as Kestra 1.1 does."""

from __future__ import annotations

import pytest

from tests.flows.pebble_expr import Evaluator, PebbleUnsupported, Undefined, is_true


def ev(template: str, **context) -> str:
    return Evaluator(context, kv={"K": "v"}).render(template)


def test_filter_binds_looser_than_concatenation():
    # Pebble: '~' (110) before '|' (100), so the filter applies to the concatenation.
    assert ev("{{ 'a/' ~ x | substringBeforeLast('/') }}", x="b/c") == "a/b"
    assert ev("{{ ('/' ~ x) | substringBeforeLast('/') }}", x="file.parquet") == ""


def test_stringutils_semantics_without_separator():
    assert ev("{{ x | substringBeforeLast('/') }}", x="abc") == "abc"
    assert ev("{{ x | substringAfterLast('/') }}", x="abc") == ""


def test_null_coalescing_catches_undefined_and_null():
    assert ev("{{ trigger.data.name ?? inputs.n ?? 'none' }}", inputs={"n": None}) == "none"
    assert ev("{{ trigger.data.name ?? 'none' }}", trigger={"data": {"name": "x"}}) == "x"
    with pytest.raises(Undefined):
        ev("{{ trigger.data.name }}")


def test_boolean_operators_and_truthiness():
    assert ev("{{ x | endsWith('.p') and (y == '' or y == 'a') }}", x="f.p", y="a") == "true"
    assert ev("{{ not (x == 'a') }}", x="a") == "false"
    assert is_true("true") and not is_true("false") and not is_true(" ") and is_true("yes")


def test_unknown_constructs_are_refused():
    for template in ("{{ x | upper }}", "{{ now() }}", "{{ x > 1 }}"):
        with pytest.raises(PebbleUnsupported):
            ev(template, x="a")


def test_render_and_kv():
    evaluator = Evaluator({"vars": {"a": "{{ kv('K') ~ '!' }}"}}, kv={"K": "v"})
    assert evaluator.render("{{ render(vars.a) }}") == "v!"
