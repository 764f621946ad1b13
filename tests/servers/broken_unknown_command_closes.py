"""Closes the connection after an unknown command.

The student treats an unknown command as a protocol violation and hangs up.

Symptom: `FOO` gets `ERR unknown-command`, then EOF; a `PING x` sent after it is never
answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this file as part of the package tests.servers
    from tests.servers._chatbase import ChatServer, Connection, main
else:  # run as a script, whose directory is on sys.path
    from _chatbase import ChatServer, Connection, main

BREAKS = ("CMD-1", "CMD-4")


class UnknownCommandClosesServer(ChatServer):
    def handle_line(self, conn: Connection, line: str) -> None:
        word, _ = self.split_command(line)
        super().handle_line(conn, line)
        if line and self.command_key(word) not in self.commands:
            self.close_output(conn)  # BUG: the connection must stay open and usable


if __name__ == "__main__":
    main(UnknownCommandClosesServer)
