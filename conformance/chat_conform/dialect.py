"""Profiles: how a chat server that does not speak linechat/1 is talked to (a "dialect").

A profile is a TOML file: how a client registers (steps of "expect data matching REGEX" and
"send TEMPLATE"), how it says something, which word makes it leave, how a relayed message,
a join notice and a leave notice look (regular expressions with the sender's name), the
text encoding, and which checks do not apply. The built-in profiles ``relay`` and
``name-prompt`` are such files, in ``chat_conform/profiles/``; ``linechat`` (the default)
is not a dialect but linechat/1 itself, checked rule by rule.

Templates (what is sent) know ``{name}`` (in register steps) and ``{text}`` (in the message
template); ``{{`` and ``}}`` stand for literal braces. Patterns (what is received) are Python
regular expressions in which ``{name}`` and ``{text}`` stand for the escaped name and text;
other braces keep their regex meaning (``\\d{2}``). Every problem in a profile is reported
as one line naming the file and the key: :class:`DialectError`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

LINECHAT = "linechat"  # the default profile: linechat/1 itself, not a dialect
BUILTIN_DIR = "profiles"
DEFAULT_QUIET_PERIOD = 0.3
NAME_FIELD, TEXT_FIELD = "name", "text"
TERMINATORS = ("", "\n", "\r\n", "\r", "\0")
# What a dialect offers; a check that needs something the dialect lacks is not applicable.
FEATURES = ("registration", "names", "join", "leave", "exit")

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_SAMPLE = "sample"


class DialectError(ValueError):
    """A profile that cannot be used; the message is one line naming file and key."""


@dataclass(frozen=True)
class Template:
    """Text to send, with ``{name}`` / ``{text}`` placeholders and ``{{`` / ``}}`` escapes."""

    source: str

    def render(self, **values: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            whole = match.group(0)
            if whole in ("{{", "}}"):
                return whole[0]
            return values[match.group(1)]

        return _PLACEHOLDER.sub(substitute, self.source)

    def fields(self) -> set[str]:
        return {m.group(1) for m in _PLACEHOLDER.finditer(self.source) if m.group(1) is not None}


@dataclass(frozen=True)
class Pattern:
    """A regular expression for received text, with ``{name}`` / ``{text}`` placeholders."""

    source: str

    def compile(self, *, name: str = "", text: str | None = None) -> re.Pattern[str]:
        """The regex for this name; ``{text}`` becomes the group ``text`` (any text if None)."""
        body = self.source.replace("{name}", re.escape(name))
        text_regex = ".*?" if text is None else re.escape(text)
        body = body.replace("{text}", f"(?P<text>{text_regex})")
        return re.compile(body)

    def fields(self) -> set[str]:
        return {field for field in (NAME_FIELD, TEXT_FIELD) if "{" + field + "}" in self.source}


@dataclass(frozen=True)
class Step:
    """One registration step: wait for data matching ``expect``, or send ``send``."""

    expect: Pattern | None = None
    send: Template | None = None
    terminator: str = ""  # appended to ``send``

    def describe(self) -> str:
        if self.expect is not None:
            return f"expect /{self.expect.source}/"
        assert self.send is not None
        return f"send {self.send.source!r}" + (f" + {self.terminator!r}" if self.terminator else "")


@dataclass(frozen=True)
class Dialect:
    """One profile, validated."""

    name: str
    source: str  # "builtin" or the file's path
    description: str
    encoding: str
    register: tuple[Step, ...]
    message: Template  # what a client sends to say {text}
    send_terminator: str  # appended to every message (and to register sends by default)
    exit: Template | None  # the exit word, sent as it is plus the terminator
    received: Pattern  # how a relayed message looks, with {text} and maybe {name}
    receive_terminator: str  # what ends each line the server sends; "" = unknown
    join: Pattern | None
    leave: Pattern | None
    quiet_period: float
    not_applicable: Mapping[str, str] = field(default_factory=dict)  # check name -> why

    @property
    def framed(self) -> bool:
        """Whether messages a client sends end with a terminator the server can split on.

        Without one (one send() per message, no newline) a message is delimited only by
        time: the checks then send a message only once the previous one was delivered.
        """
        return bool(self.send_terminator)

    @property
    def features(self) -> frozenset[str]:
        offered = set()
        if any(step.send is not None for step in self.register):
            offered.add("registration")
        if any(
            step.send is not None and NAME_FIELD in step.send.fields() for step in self.register
        ):
            offered.add("names")
        for feature, present in (("join", self.join), ("leave", self.leave), ("exit", self.exit)):
            if present is not None:
                offered.add(feature)
        return frozenset(offered)

    def encode(self, text: str) -> bytes:
        return text.encode(self.encoding)

    def decode(self, data: bytes) -> str:
        """Received bytes as text; undecodable bytes are kept (surrogateescape)."""
        return data.decode(self.encoding, errors="surrogateescape")

    def can_encode(self, text: str) -> bool:
        try:
            text.encode(self.encoding)
        except UnicodeEncodeError:
            return False
        return True

    def message_bytes(self, text: str) -> bytes:
        return self.encode(self.message.render(text=text) + self.send_terminator)

    def describe(self) -> str:
        where = "built in" if self.source == "builtin" else self.source
        return f"{self.name} ({where})"


def builtin_names() -> list[str]:
    folder = resources.files("chat_conform").joinpath(BUILTIN_DIR)
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def builtin_text(name: str) -> str:
    """The TOML text of a built-in profile (documentation shows it as an example)."""
    return (
        resources.files("chat_conform")
        .joinpath(BUILTIN_DIR)
        .joinpath(f"{name}.toml")
        .read_text("utf-8")
    )


@lru_cache(maxsize=16)
def load_dialect(reference: str) -> Dialect:
    """A built-in profile by name, or a TOML file by path; raise DialectError if unusable."""
    if reference in builtin_names():
        return parse_dialect(builtin_text(reference), source="builtin")
    path = Path(reference)
    if path.suffix != ".toml" and not path.exists():
        known = ", ".join([LINECHAT, *builtin_names()])
        raise DialectError(f"unknown profile {reference!r} (built in: {known}; or a .toml file)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DialectError(f"cannot read profile {reference}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise DialectError(f"profile {reference} is not UTF-8 text: {error}") from error
    return parse_dialect(text, source=str(path.resolve()))


def parse_dialect(text: str, *, source: str) -> Dialect:
    """Validate a profile's TOML text. ``source`` names it in error messages."""
    where = "built-in profile" if source == "builtin" else f"profile {source}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DialectError(f"{where}: not valid TOML: {error}") from error
    return _Reader(data, where).dialect(source)


class _Reader:
    """Reads and validates one profile's TOML table, naming the key of every problem."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def fail(self, key: str, problem: str) -> DialectError:
        return DialectError(f"{self.where}: {key}: {problem}")

    def dialect(self, source: str) -> Dialect:
        self._only_keys(
            "", self.data, "name description encoding quiet_period register send receive checks"
        )
        send = self._table("send", required=True)
        receive = self._table("receive", required=True)
        register = self._table("register", required=False)
        checks = self._table("checks", required=False)
        self._only_keys("[send]", send, "message terminator exit")
        self._only_keys("[receive]", receive, "message terminator join leave")
        self._only_keys("[register]", register, "steps")
        self._only_keys("[checks]", checks, "not_applicable")
        encoding = self._string(self.data, "encoding", "encoding", default="utf-8")
        self._check_encoding(encoding)
        terminator = self._terminator(send, "[send] terminator")
        dialect = Dialect(
            name=self._string(self.data, "name", "name", required=True),
            source=source,
            description=self._string(self.data, "description", "description"),
            encoding=encoding,
            register=self._steps(register, terminator),
            message=self._template(send, "message", "[send] message", {TEXT_FIELD}, required=True),
            send_terminator=terminator,
            exit=self._optional_template(send, "exit", "[send] exit"),
            received=self._pattern(receive, "message", "[receive] message", required=True),
            receive_terminator=self._terminator(receive, "[receive] terminator"),
            join=self._optional_pattern(receive, "join", "[receive] join"),
            leave=self._optional_pattern(receive, "leave", "[receive] leave"),
            quiet_period=self._quiet_period(),
            not_applicable=self._not_applicable(checks),
        )
        self._check_consistency(dialect)
        return dialect

    # -- tables and keys -------------------------------------------------------------------

    def _only_keys(self, table: str, data: Mapping[str, Any], allowed: str) -> None:
        unknown = sorted(set(data) - set(allowed.split()))
        if unknown:
            key = f"{table} {unknown[0]}".strip()
            raise self.fail(key, f"unknown key (allowed: {', '.join(allowed.split())})")

    def _table(self, key: str, *, required: bool) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(f"[{key}]", "missing table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"[{key}]", "must be a table")
        return value

    def _string(
        self,
        data: Mapping[str, Any],
        key: str,
        shown: str,
        *,
        required: bool = False,
        default: str = "",
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(shown, "missing")
            return default
        if not isinstance(value, str):
            raise self.fail(shown, f"must be a string, not {type(value).__name__}")
        if required and not value.strip():
            raise self.fail(shown, "must not be empty")
        return value

    # -- values ----------------------------------------------------------------------------

    def _check_encoding(self, encoding: str) -> None:
        try:
            "a".encode(encoding)
        except LookupError as error:
            raise self.fail("encoding", f"unknown encoding {encoding!r}") from error

    def _terminator(self, data: Mapping[str, Any], shown: str) -> str:
        value = self._string(data, "terminator", shown)
        if value not in TERMINATORS:
            allowed = ", ".join(repr(t) for t in TERMINATORS)
            raise self.fail(shown, f"must be one of {allowed}, not {value!r}")
        return value

    def _template(
        self,
        data: Mapping[str, Any],
        key: str,
        shown: str,
        fields: set[str],
        *,
        required: bool = False,
    ) -> Template:
        template = Template(self._string(data, key, shown, required=required))
        for match in _PLACEHOLDER.finditer(template.source):
            name = match.group(1)
            if name is not None and name not in fields:
                known = ", ".join("{" + f + "}" for f in sorted(fields)) or "none"
                raise self.fail(shown, f"unknown placeholder {{{name}}} (known here: {known})")
        missing = fields - template.fields()
        if required and missing:
            raise self.fail(shown, f"must contain {{{sorted(missing)[0]}}}")
        leftover = _PLACEHOLDER.sub("", template.source)
        if "{" in leftover or "}" in leftover:
            raise self.fail(shown, "a lone brace: write {{ or }} for a literal one")
        return template

    def _optional_template(self, data: Mapping[str, Any], key: str, shown: str) -> Template | None:
        if key not in data:
            return None
        template = self._template(data, key, shown, set())
        if not template.source:
            raise self.fail(shown, "must not be empty (leave the key out instead)")
        return template

    def _pattern(
        self, data: Mapping[str, Any], key: str, shown: str, *, required: bool = False
    ) -> Pattern:
        pattern = Pattern(self._string(data, key, shown, required=required))
        try:
            pattern.compile(name=_SAMPLE, text=_SAMPLE)
        except re.error as error:
            raise self.fail(shown, f"bad regular expression: {error}") from error
        if pattern.source.count("{text}") > 1:
            raise self.fail(shown, "{text} may appear once")
        return pattern

    def _optional_pattern(self, data: Mapping[str, Any], key: str, shown: str) -> Pattern | None:
        if key not in data:
            return None
        pattern = self._pattern(data, key, shown, required=True)
        if NAME_FIELD not in pattern.fields():
            raise self.fail(shown, "must contain {name}: whose notice is it?")
        if TEXT_FIELD in pattern.fields():
            raise self.fail(shown, "{text} has no meaning here")
        return pattern

    def _steps(self, register: Mapping[str, Any], terminator: str) -> tuple[Step, ...]:
        steps = register.get("steps", [])
        if not isinstance(steps, list):
            raise self.fail("[register] steps", "must be an array of tables")
        parsed = []
        for number, step in enumerate(steps, start=1):
            shown = f"[register] steps[{number}]"
            if not isinstance(step, dict):
                raise self.fail(shown, "must be a table: { expect = '...' } or { send = '...' }")
            self._only_keys(shown, step, "expect send terminator")
            if ("expect" in step) == ("send" in step):
                raise self.fail(shown, "needs exactly one of expect and send")
            if "expect" in step:
                if "terminator" in step:
                    raise self.fail(f"{shown} terminator", "only a send step has a terminator")
                expect = self._pattern(step, "expect", f"{shown} expect", required=True)
                if TEXT_FIELD in expect.fields():
                    raise self.fail(f"{shown} expect", "{text} has no meaning here")
                if expect.compile(name=_SAMPLE).fullmatch(""):
                    raise self.fail(f"{shown} expect", "matches empty data: it waits for nothing")
                parsed.append(Step(expect=expect))
            else:
                send = self._template(step, "send", f"{shown} send", {NAME_FIELD}, required=False)
                step_terminator = terminator
                if "terminator" in step:
                    step_terminator = self._terminator(step, f"{shown} terminator")
                parsed.append(Step(send=send, terminator=step_terminator))
        return tuple(parsed)

    def _quiet_period(self) -> float:
        value = self.data.get("quiet_period", DEFAULT_QUIET_PERIOD)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail("quiet_period", "must be a number of seconds")
        if not 0 < value <= 10:
            raise self.fail("quiet_period", f"must be more than 0 and at most 10 s, not {value}")
        return float(value)

    def _not_applicable(self, checks: Mapping[str, Any]) -> dict[str, str]:
        value = checks.get("not_applicable", {})
        if not isinstance(value, dict) or not all(
            isinstance(key, str) and isinstance(why, str) for key, why in value.items()
        ):
            raise self.fail("[checks] not_applicable", 'must be a table of check name = "why not"')
        return dict(value)

    def _check_consistency(self, dialect: Dialect) -> None:
        names = "names" in dialect.features
        for key, pattern in (
            ("[receive] join", dialect.join),
            ("[receive] leave", dialect.leave),
        ):
            if pattern is not None and not names:
                raise self.fail(key, "needs a name: no [register] step sends {name}")
        if NAME_FIELD in dialect.received.fields() and not names:
            raise self.fail("[receive] message", "has {name}, but no [register] step sends it")
        if TEXT_FIELD not in dialect.received.fields():
            raise self.fail("[receive] message", "must contain {text}")
