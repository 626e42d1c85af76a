"""A small evaluator for the Pebble expressions the flows use in conditions and messages.

It knows exactly this much of Kestra 1.1's Pebble, and raises PebbleUnsupported on anything else,
so a flow expression that grows beyond it is noticed instead of being misread:

- literals: 'strings' (single or double quotes), integers, true/false, lists [a, b]
- names with attribute access: trigger.data.name, inputs.object_name, outputs.x.rows
- functions: render(expr) (renders a string as a template with the same context), kv('KEY')
- filters: endsWith, startsWith, substringBeforeLast, substringAfterLast, length
- operators, with Pebble's precedences (io.pebbletemplates CoreExtension; `??` from Kestra's
  io.kestra.core.runners.pebble.Extension): or 10, and 15, == != 30, | 100, ~ 110, ?? 120;
  `not` (unary, 500)

Semantics, as in Kestra (strict variables): reading a name or attribute that is not there is an
error (Undefined), except on the left of `??`, which then yields its right side (also for null).
Filters follow Kestra's classes: endsWith/startsWith are Java String methods;
substringBeforeLast/substringAfterLast are Apache StringUtils' (no separator found: the input,
resp. the empty string); `~` concatenates the string forms.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

TOKEN_RE = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>\d+)
    | (?P<op>\?\?|==|!=|\||~|\(|\)|\[|\]|,|\.)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.VERBOSE)

BINARY = {"or": 10, "and": 15, "==": 30, "!=": 30, "|": 100, "~": 110, "??": 120}
TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class PebbleUnsupported(ValueError):
    """A construct this evaluator does not model."""


class Undefined(LookupError):
    """A name or attribute that does not exist (Kestra renders with strict variables)."""


FILTERS: dict[str, Callable[..., Any]] = {
    "endsWith": lambda s, suffix: str(s).endswith(suffix),
    "startsWith": lambda s, prefix: str(s).startswith(prefix),
    "substringBeforeLast": lambda s, sep: s[: s.rindex(sep)] if sep and sep in s else s,
    "substringAfterLast": lambda s, sep: s[s.rindex(sep) + len(sep):] if sep and sep in s else "",
    "length": lambda v: len(v),
}


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise PebbleUnsupported(f"cannot read {text[pos:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class Evaluator:
    """Evaluates `{{ … }}` templates against a context (a nested dict) and flow variables."""

    def __init__(self, context: Mapping[str, Any], variables: Mapping[str, str] | None = None,
                 kv: Mapping[str, Any] | None = None):
        self.context = dict(context)
        self.context.setdefault("vars", dict(variables or {}))
        self.kv = dict(kv or {})

    # -- templates --------------------------------------------------------------------------
    def render(self, template: str) -> str:
        """A template: text with {{ expressions }}; each expression's value as a string."""
        return TEMPLATE_RE.sub(lambda m: to_string(self.expression(m.group(1))), template)

    def expression(self, text: str) -> Any:
        self.tokens, self.pos = tokenize(text), 0
        value = self.parse(0)
        if self.pos != len(self.tokens):
            raise PebbleUnsupported(f"unexpected {self.tokens[self.pos][1]!r} in {text!r}")
        return value()

    # -- parsing (Pratt), producing thunks so `??` can catch Undefined on its left ----------
    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise PebbleUnsupported(f"expected {value!r}, got {token!r}")
        self.pos += 1
        return token

    def parse(self, min_precedence: int) -> Callable[[], Any]:
        left = self.unary()
        while (token := self.peek()) and token[1] in BINARY and BINARY[token[1]] > min_precedence:
            op = self.take()[1]
            if op == "|":
                left = self.filter_call(left)
                continue
            right = self.parse(BINARY[op])
            left = self.binary(op, left, right)
        return left

    def binary(self, op: str, left, right) -> Callable[[], Any]:
        if op == "??":
            def coalesce():
                try:
                    value = left()
                except Undefined:
                    return right()
                return right() if value is None else value
            return coalesce
        return {
            "or": lambda: bool(left()) or bool(right()),
            "and": lambda: bool(left()) and bool(right()),
            "==": lambda: left() == right(),
            "!=": lambda: left() != right(),
            "~": lambda: to_string(left()) + to_string(right()),
        }[op]

    def filter_call(self, subject) -> Callable[[], Any]:
        kind, name = self.take()
        if kind != "name" or name not in FILTERS:
            raise PebbleUnsupported(f"filter {name!r}")
        args = self.arguments() if self.peek() and self.peek()[1] == "(" else []
        return lambda: FILTERS[name](subject(), *[a() for a in args])

    def arguments(self) -> list[Callable[[], Any]]:
        self.take("(")
        args = []
        while self.peek() and self.peek()[1] != ")":
            args.append(self.parse(0))
            if self.peek() and self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return args

    def unary(self) -> Callable[[], Any]:
        kind, value = self.take()
        if kind == "name" and value == "not":
            operand = self.parse(499)
            return lambda: not operand()
        if kind == "string":
            text = value[1:-1].replace("\\'", "'").replace('\\"', '"')
            return lambda: text
        if kind == "number":
            return lambda: int(value)
        if value == "(":
            inner = self.parse(0)
            self.take(")")
            return inner
        if value == "[":
            items = []
            while self.peek() and self.peek()[1] != "]":
                items.append(self.parse(0))
                if self.peek() and self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return lambda: [i() for i in items]
        if kind == "name" and value in ("true", "false"):
            return lambda: value == "true"
        if kind == "name" and self.peek() and self.peek()[1] == "(":
            return self.function(value, self.arguments())
        if kind == "name":
            path = [value]
            while self.peek() and self.peek()[1] == ".":
                self.take(".")
                path.append(self.take()[1])
            return lambda: self.lookup(path)
        raise PebbleUnsupported(f"unexpected {value!r}")

    def function(self, name: str, args) -> Callable[[], Any]:
        if name == "render" and len(args) == 1:
            return lambda: self.render_value(args[0]())
        if name == "kv" and len(args) == 1:
            def kv():
                key = args[0]()
                if key not in self.kv:
                    raise Undefined(f"kv {key!r}")
                return self.kv[key]
            return kv
        raise PebbleUnsupported(f"function {name}()")

    def render_value(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        # A nested render runs its own parse: keep this one's position.
        saved = self.tokens, self.pos
        try:
            return self.render(value)
        finally:
            self.tokens, self.pos = saved

    def lookup(self, path: list[str]) -> Any:
        value: Any = self.context
        for part in path:
            if not isinstance(value, Mapping) or part not in value:
                raise Undefined(".".join(path))
            value = value[part]
        return value


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_true(rendered: str) -> bool:
    """How Kestra's If reads a rendered condition (io.kestra.core.utils.TruthUtils.isTruthy):
    anything but "false", "0", "-0" and "" (after trim) is true."""
    return rendered.strip() not in ("false", "0", "-0", "")
