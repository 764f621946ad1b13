"""Never announces newcomers.

The student answers WELCOME and forgets to tell the others that someone joined.

Symptom: bob is registered; alice sends `NAME alice` and gets `WELCOME alice`; bob's next
`PING x` is answered by `PONG x` with no `JOIN alice` before it. Because bob then gets
`MSG alice ...` without any JOIN, ORDER-5 is broken too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("ORDER-8", "ORDER-5")


class NoJoinServer(ChatServer):
    def announce_join(self, newcomer: Connection) -> None:
        pass  # BUG: nobody hears about the newcomer


if __name__ == "__main__":
    main(NoJoinServer)
