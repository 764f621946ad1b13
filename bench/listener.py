"""The command line shared by the bench servers: ``--port N`` (0 = a free one), 127.0.0.1 only,
the ``listening on 127.0.0.1:<port>`` line, and exit status 0 on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from types import FrameType

BACKLOG = 4096
"""The load client connects up to a thousand sockets in one burst: none must wait for a SYN
retransmission because the accept queue was full."""


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def listen_from_cli(description: str, argv: list[str] | None = None) -> socket.socket:
    """Parse ``--port``, listen on 127.0.0.1, announce the port, and make SIGTERM exit 0."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 takes a free one")
    args = parser.parse_args(argv)
    listener = socket.create_server(("127.0.0.1", args.port), backlog=BACKLOG)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    return listener
