"""``Chat``: what a check receives as its ``chat`` fixture.

It opens clients on the server under test, names them, records one transcript for all of
them, and knows whether the server is this check's own (fresh) one or shared (--connect).
"""

from __future__ import annotations

import random
import re
import signal
import string
from collections.abc import Iterable, Sequence

from chat_conform.launcher import ServerProcess
from chat_conform.wire import NOTE, Client, ClientHooks, Transcript, open_client, show

MAX_NAME_LENGTH = 32
SUFFIX_LENGTH = 6
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_RELAYED = re.compile(r"(?:JOIN|LEAVE|MSG) (\S+)(?: .*)?", re.DOTALL)


class Chat:
    """A check's handle on the server under test.

    On a fresh server names are used as given ("alice"). On a shared server (--connect)
    other checks and users are around: :meth:`name` appends a unique suffix, and clients
    ignore JOIN, LEAVE and MSG lines about names this check did not make.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        timeout: float,
        seed: str,
        shared: bool,
        server: ServerProcess | None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.shared = shared
        self.server = server
        # One clock for the transcript and the server's stderr: 0 is the server's launch.
        self.transcript = Transcript(None if server is None else server.started)
        self.rng = random.Random(seed)  # for payloads; reproducible with --seed
        self._name_rng = random.Random(f"names:{seed}")
        self._names: dict[str, str] = {}
        self._own_names: set[str] = set()
        self._clients: list[Client] = []

    def name(self, base: str) -> str:
        """The name to use for ``base``: itself, or on a shared server a unique variant.

        The same base always gives the same name within a check. The variant is
        ``base[:25] + "-" + 6 random letters/digits`` (at most 32 characters).
        """
        if base not in self._names:
            name = base
            if self.shared:
                suffix = "".join(self._name_rng.choices(_SUFFIX_ALPHABET, k=SUFFIX_LENGTH))
                name = f"{base[: MAX_NAME_LENGTH - SUFFIX_LENGTH - 1]}-{suffix}"
            self._names[base] = name
            self._own_names.add(name)
        return self._names[base]

    def connect(self, label: str) -> Client:
        """A new client that has read and checked the greeting (GREET-1)."""
        client = self.connect_raw(label)
        client.expect_hello()
        return client

    def connect_raw(self, label: str) -> Client:
        """A new client that has read nothing yet (to check the greeting itself)."""
        shown = label
        used = {client.label for client in self._clients}
        for number in range(2, len(used) + 3):
            if shown not in used:
                break
            shown = f"{label}#{number}"
        client = open_client(
            self.host,
            self.port,
            shown,
            name=self.name(label),
            transcript=self.transcript,
            timeout=self.timeout,
            hooks=ClientHooks(
                ignore=self._is_foreign,
                explain_failure=self._server_status,
                on_register=self._own_names.add,
            ),
        )
        self._clients.append(client)
        return client

    def registered(self, *labels: str, seen_by: Sequence[Client] = ()) -> list[Client]:
        """Connect and register one client per label, in order, and return them.

        Each earlier client, and each already registered client in ``seen_by``, is made to
        read the later ones' ``JOIN`` lines (ORDER-8), so the check goes on from a quiet
        state: no client has anything unread.
        """
        clients: list[Client] = []
        for label in labels:
            client = self.connect(label)
            client.register()
            for earlier in (*seen_by, *clients):
                earlier.expect(f"JOIN {client.name}")
            clients.append(client)
        return clients

    def expect_who(
        self,
        asker: Client,
        *,
        present: Iterable[str],
        absent: Iterable[str] = (),
        argument: str | None = None,
    ) -> list[str]:
        """``asker`` sends WHO; the list must be exactly ``present``, each name once.

        On a shared server others may be listed too: then ``present`` must be among them.
        No name of ``absent`` may be listed. Returns the listed names.
        """
        listed = asker.who(argument)
        repeated = sorted({name for name in listed if listed.count(name) > 1})
        missing = sorted(set(present) - set(listed))
        departed = sorted(set(absent) & set(listed))
        unexpected = sorted(set(listed) - set(present))
        if repeated:
            asker.fail(f"WHO listed {_names(repeated)} more than once")
        if missing:
            asker.fail(f"WHO did not list {_names(missing)} (listed: {_names(listed)})")
        if departed:
            asker.fail(f"WHO listed {_names(departed)}, who had already left")
        if unexpected and not self.shared:
            asker.fail(f"WHO listed {_names(unexpected)}, who are not registered")
        return listed

    @property
    def own_server(self) -> ServerProcess:
        """The server process of this check (only for checks declared needs_own_server)."""
        if self.server is None:
            raise RuntimeError("this check has no server process of its own (--connect)")
        return self.server

    def stop_server_with(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the server (LIFE-1), noted in the transcript."""
        self.transcript.record("server", NOTE, f"chat-conform sends {sig.name}")
        self.own_server.send_signal(sig)

    def close_all(self) -> None:
        """Close every client that is still open (the check is over)."""
        for client in self._clients:
            client.close_quietly()

    def _is_foreign(self, line: str) -> bool:
        if not self.shared:
            return False
        relayed = _RELAYED.fullmatch(line)
        return relayed is not None and relayed.group(1) not in self._own_names

    def _server_status(self) -> str:
        """Context for failure messages: the server process is gone."""
        return "" if self.server is None else self.server.exit_note()


def _names(names: Iterable[str]) -> str:
    return ", ".join(show(name) for name in names) or "nobody"
