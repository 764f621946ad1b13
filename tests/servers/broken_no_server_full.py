"""Ignores --max-clients: never refuses a connection.

The student parses the option and never uses it.

Symptom: started with `--max-clients 2`, a third concurrent connection gets HELLO instead of
`ERR server-full` followed by EOF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, main

BREAKS = ("GREET-2",)


class NoServerFullServer(ChatServer):
    def is_full(self) -> bool:
        return False  # BUG: the limit is never applied


if __name__ == "__main__":
    main(NoServerFullServer)
