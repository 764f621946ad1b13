"""The normative rules of linechat/1, by ID: the contract every check points at.

This registry mirrors the bold rule IDs of SPEC.md (a test in the project's suite checks that
the two agree). A check names the rules it covers; the level of those rules decides whether a
failure fails the run (MUST) or is a warning (SHOULD, MAY) unless --strict is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Level = Literal["MUST", "SHOULD", "MAY"]
MUST: Final = "MUST"
SHOULD: Final = "SHOULD"
MAY: Final = "MAY"


@dataclass(frozen=True)
class Rule:
    """One normative sentence of the protocol."""

    id: str
    level: Level
    text: str

    @property
    def section(self) -> str:
        """The section code, e.g. ``FRAME`` for ``FRAME-4``."""
        return self.id.rsplit("-", 1)[0]

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-", 1)[1])


SECTIONS: dict[str, str] = {
    "FRAME": "transport and framing",
    "GREET": "connection start",
    "CMD": "commands in general",
    "NAME": "registration and names",
    "MSG": "messages",
    "WHO": "the user list",
    "PING": "round trips",
    "EXIT": "leaving",
    "LEAVE": "departures and cleanup",
    "ORDER": "ordering and delivery",
    "LOAD": "capacity and slow readers",
    "LIFE": "server life cycle",
}

_RULES: tuple[Rule, ...] = (
    Rule("FRAME-1", MUST, "The transport is a TCP byte stream and all text is UTF-8."),
    Rule(
        "FRAME-2",
        MUST,
        "Every line ends with LF (0x0A); a server MUST send LF only, never CR LF.",
    ),
    Rule(
        "FRAME-3",
        MUST,
        "A server MUST strip one CR (0x0D) that stands directly before the LF of a received "
        "line, so clients may send CRLF. A CR anywhere else is part of the line.",
    ),
    Rule(
        "FRAME-4",
        MUST,
        "A server MUST frame by LF only: a line split across many TCP segments (down to one "
        "byte each) and many lines in one segment MUST be handled exactly like the same lines"
        " sent one per segment.",
    ),
    Rule(
        "FRAME-5",
        MUST,
        "A line is at most 4096 bytes on the wire counting its LF and any CR. For a longer "
        "received line the server MUST send exactly one `ERR line-too-long`, discard the line"
        " up to and including its LF, and keep the connection open and usable.",
    ),
    Rule("FRAME-6", MUST, "A server MUST NOT send a line longer than 4096 bytes counting its LF."),
    Rule("FRAME-7", MUST, "An empty line (after CR stripping) MUST be ignored, with no reply."),
    Rule(
        "FRAME-8",
        MUST,
        "Bytes after the last LF when the connection ends are not a line and MUST be "
        "discarded (not processed, not relayed).",
    ),
    Rule(
        "FRAME-9",
        MUST,
        "A received line that is not valid UTF-8 MUST get `ERR bad-encoding`; the line is "
        "discarded and the connection stays open and usable. (Length is checked before "
        "encoding: an overlong line gets only line-too-long.)",
    ),
    Rule(
        "FRAME-10",
        MUST,
        "Command words are case-insensitive (`msg` = `MSG`); a server MUST send its own line "
        "words (HELLO, WELCOME, ...) in upper case.",
    ),
    Rule(
        "FRAME-11",
        MUST,
        "The command word is everything before the first space (0x20) of the line; the "
        "argument is everything after that first space, verbatim (further spaces, trailing "
        "spaces and TABs included). A line with no space has no argument. Only 0x20 "
        "separates: `MSG\\thi` is the unknown command word `MSG\\thi`.",
    ),
    Rule(
        "GREET-1",
        MUST,
        "The first line a server sends on every accepted connection is `HELLO linechat/1` "
        "optionally followed by a space and free text, sent without waiting for any client "
        "input.",
    ),
    Rule(
        "GREET-2",
        MUST,
        "A server at its client limit MUST send `ERR server-full` (optionally followed by a "
        "space and text) instead of HELLO and then close the connection. The limit counts "
        "open connections, registered or not.",
    ),
    Rule(
        "CMD-1",
        MUST,
        "A line whose command word is not one of NAME, MSG, WHO, PING, EXIT "
        "(case-insensitively) MUST get `ERR unknown-command`; the connection stays open and "
        "usable. (An empty command word, e.g. a line starting with a space, is unknown.)",
    ),
    Rule(
        "CMD-2",
        MUST,
        "Every error a server sends is `ERR <code>` optionally followed by a space and human "
        "text, where code is exactly one of: syntax, unknown-command, not-registered, "
        "already-registered, name-taken, name-invalid, text-invalid, line-too-long, "
        "bad-encoding, server-full.",
    ),
    Rule(
        "CMD-3",
        MUST,
        "A required argument that is missing or empty (`NAME`, `NAME `, `MSG`, `MSG `) MUST "
        "get `ERR syntax`. The state is checked before the argument: `MSG` on an unregistered"
        " connection gets `ERR not-registered`; `NAME` on a registered connection gets `ERR "
        "already-registered`.",
    ),
    Rule(
        "CMD-4",
        MUST,
        "After any ERR other than server-full the connection stays open and in the same "
        "state, and the client may go on.",
    ),
    Rule(
        "NAME-1",
        MUST,
        "`NAME <name>` on an unregistered connection with a valid name that is free MUST get "
        "`WELCOME <name>`, with the name exactly as sent (no normalisation); the connection "
        "is then registered.",
    ),
    Rule(
        "NAME-2",
        MUST,
        "A valid name is 1 to 32 characters (Unicode code points, not bytes), each a Unicode "
        "letter (general category Lu, Ll, Lt, Lm, Lo), a decimal digit (Nd), `_`, `-` or `.`."
        " Any other name MUST get `ERR name-invalid`, and the connection stays unregistered.",
    ),
    Rule(
        "NAME-3",
        MUST,
        "Names are unique case-insensitively, compared with Unicode full case folding (Python"
        " `str.casefold`). A name equal under folding to a registered client's name MUST get "
        "`ERR name-taken`, and the connection stays unregistered and may try again.",
    ),
    Rule(
        "NAME-4",
        MUST,
        "`NAME` on a registered connection MUST get `ERR already-registered` (whatever the "
        "argument), and the connection keeps its name.",
    ),
    Rule(
        "NAME-5",
        MUST,
        "Cyrillic and other non-Latin names are valid and MUST be echoed and relayed intact "
        "(e.g. `NAME Алиса` -> `WELCOME Алиса`).",
    ),
    Rule(
        "MSG-1",
        MUST,
        "`MSG` on an unregistered connection MUST get `ERR not-registered`, and nothing is "
        "relayed.",
    ),
    Rule(
        "MSG-2",
        MUST,
        "Valid text is at least one character with no C0 control character except TAB (U+0000"
        " to U+001F other than U+0009), no DEL (U+007F) and no C1 control (U+0080 to U+009F)."
        " Other text MUST get `ERR text-invalid`, and nothing is relayed.",
    ),
    Rule(
        "MSG-3",
        MUST,
        "`MSG <text>` from a registered client with valid text gets no reply, and every other"
        " registered client receives `MSG <sender> <text>` with the sender's registered name "
        "and the text verbatim (spaces, TABs, Cyrillic, emoji intact).",
    ),
    Rule("MSG-4", MUST, "The sender MUST NOT receive its own message."),
    Rule(
        "MSG-5",
        MUST,
        "A MSG whose relayed line `MSG <sender> <text>` LF would exceed 4096 bytes MUST be "
        "refused with `ERR line-too-long` and not relayed to anyone.",
    ),
    Rule(
        "WHO-1",
        MUST,
        "`WHO` MUST get one `USER <name>` line per registered client (the asker included when"
        " registered; any order), then `END WHO <count>` where count is the number of USER "
        "lines, as a decimal integer.",
    ),
    Rule(
        "WHO-2",
        MUST,
        "WHO is allowed before registration (the unregistered asker is not listed).",
    ),
    Rule("WHO-3", MUST, "Anything after the command word of WHO (and of EXIT) is ignored."),
    Rule(
        "WHO-4",
        MUST,
        "The list is a snapshot: it includes every client whose WELCOME was sent before the "
        "server processed the WHO, and no client whose LEAVE was sent before it.",
    ),
    Rule(
        "PING-1",
        MUST,
        "`PING` MUST get `PONG`, and `PING <token>` MUST get `PONG <token>` with the token "
        "verbatim. (`PING ` with an empty token gets `PONG`.)",
    ),
    Rule("PING-2", MUST, "PING is allowed in every state before EXIT, registered or not."),
    Rule(
        "PING-3",
        MUST,
        "A PING token that contains a control character (as in MSG-2: C0 other than TAB, DEL, "
        "C1) MUST get `ERR text-invalid` instead of a PONG, so a server never echoes a CR or "
        "escape sequence (FRAME-2).",
    ),
    Rule(
        "EXIT-1",
        MUST,
        "`EXIT` MUST get `BYE` (optionally followed by a space and text), after which the "
        "server closes the connection.",
    ),
    Rule(
        "EXIT-2",
        MUST,
        "When the exiting client was registered, every other registered client receives "
        "`LEAVE <name> exit`.",
    ),
    Rule(
        "EXIT-3",
        MUST,
        "Lines a client sends after EXIT (even in the same TCP segment) MUST be ignored: "
        "never processed, never relayed.",
    ),
    Rule("EXIT-4", MUST, "EXIT is allowed before registration; then no LEAVE is sent."),
    Rule(
        "LEAVE-1",
        MUST,
        "When a registered client's connection ends without EXIT (EOF, reset or socket "
        "error), every other registered client receives `LEAVE <name> disconnect`.",
    ),
    Rule(
        "LEAVE-2",
        MUST,
        "A registered client's name is free for reuse as soon as its LEAVE has been sent: a "
        "NAME with that name from then on MUST succeed.",
    ),
    Rule(
        "LEAVE-3",
        MUST,
        "A connection that ends unregistered causes no LEAVE line and leaves no name behind.",
    ),
    Rule(
        "LEAVE-4",
        MUST,
        "The LEAVE reasons are exactly `exit`, `disconnect`, `timeout` (a server idle limit) "
        "and `kicked` (the server dropped the client, e.g. a slow reader). A server that "
        "drops a registered client for any reason MUST send LEAVE with the matching reason.",
    ),
    Rule(
        "LEAVE-5",
        MUST,
        "A server MUST go on serving the others after a client resets its connection (RST) or"
        " vanishes mid-line.",
    ),
    Rule(
        "ORDER-1",
        MUST,
        "Each connection's lines are processed in the order received, and everything a server"
        " sends to one connection is one FIFO stream: a reply to a command is sent after "
        "anything the server queued to that connection earlier (so after `MSG` then `PING` "
        "from A, A's PONG follows every line queued to A before the PING was processed).",
    ),
    Rule(
        "ORDER-2",
        MUST,
        "Every MSG is delivered exactly once to every client that was registered when the "
        "server processed it, except its sender: no loss, no duplicates.",
    ),
    Rule("ORDER-3", MUST, "Messages from one sender reach each receiver in the order sent."),
    Rule("ORDER-4", SHOULD, "All receivers see one common order of all MSG, JOIN and LEAVE lines."),
    Rule(
        "ORDER-5",
        MUST,
        "A receiver gets `JOIN x` before any MSG from x, and `LEAVE x` after every MSG from x.",
    ),
    Rule("ORDER-6", MUST, "Unregistered connections receive no MSG, JOIN or LEAVE lines."),
    Rule(
        "ORDER-7",
        MUST,
        "Lines fully received before an EOF or reset are processed: a client that sends `MSG "
        "bye` LF and closes at once still has `MSG <name> bye` delivered to the others, "
        "before its LEAVE.",
    ),
    Rule(
        "ORDER-8",
        MUST,
        "After `WELCOME x`, every other registered client receives `JOIN x`; the newcomer "
        "itself receives no JOIN for its own name.",
    ),
    Rule(
        "LOAD-1",
        MUST,
        "A server MUST serve at least 100 concurrent registered clients before it answers "
        "`ERR server-full`.",
    ),
    Rule("LOAD-2", SHOULD, "A server should serve 1000 concurrent registered clients."),
    Rule(
        "LOAD-3",
        MUST,
        "One client that stops reading MUST NOT delay delivery to the other clients beyond a "
        "small bound (the checker uses 2 seconds by default).",
    ),
    Rule(
        "LOAD-4",
        MUST,
        "A server MAY drop a client that does not read once its unsent output exceeds a limit"
        " of the server's choice, which MUST be at least 64 KiB; it then sends `LEAVE <name> "
        "kicked` to the others. A client whose unsent output stays below 64 KiB MUST NOT be "
        "dropped.",
    ),
    Rule(
        "LIFE-1",
        MUST,
        "On SIGINT or SIGTERM a server sends `BYE` (optionally with text) to every "
        "connection, closes them, and exits with status 0.",
    ),
    Rule(
        "LIFE-2",
        MAY,
        "A server may close a registered connection that stays idle longer than a limit of "
        "its choice; it then sends `LEAVE <name> timeout` to the others. (Not observable "
        "black-box in bounded time: the checker reports it as a gap unless the server is "
        "configured with a short limit.)",
    ),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def rule_sort_key(rule_id: str) -> tuple[int, int]:
    """Order rule IDs as SPEC.md does: by section, then by number (FRAME-2 before FRAME-10)."""
    rule = RULES[rule_id]
    return (list(SECTIONS).index(rule.section), rule.number)


def strongest_level(rule_ids: list[str] | tuple[str, ...]) -> Level:
    """The level of a check covering several rules: MUST if any of them is a MUST."""
    levels = {RULES[rule_id].level for rule_id in rule_ids}
    for level in (MUST, SHOULD, MAY):
        if level in levels:
            return level
    raise ValueError("a check must cover at least one rule")
