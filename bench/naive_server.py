"""The naive baseline: a linechat/1 relay written the way a first attempt usually is.

One thread per client reads lines; a MSG is relayed by the *sender's* thread, which calls
``sendall`` once per receiver while holding one global lock. It is correct for the commands
the benchmark uses (NAME, MSG, PING, EXIT), but every delivery is a system call, and one
receiver that reads slowly stalls the whole room. The benchmark measures how far the
reference server is from this, not whether this is any good.

    python bench/naive_server.py --port 0
"""

from __future__ import annotations

import contextlib
import socket
import threading

from listener import listen_from_cli

room_lock = threading.Lock()
"""Held for every send, so that lines to one socket never interleave."""
members: dict[socket.socket, bytes] = {}
"""Registered connections and their names."""


def send_to(sock: socket.socket, line: bytes) -> None:
    with room_lock:
        sock.sendall(line)


def relay(sender: socket.socket, line: bytes) -> None:
    with room_lock:
        for other in members:
            if other is not sender:
                # A broken socket is its own thread's business: it will see it and leave.
                with contextlib.suppress(OSError):
                    other.sendall(line)


def register(sock: socket.socket, name: bytes) -> bool:
    with room_lock:
        if name in members.values():
            return False
        members[sock] = name
        sock.sendall(b"WELCOME " + name + b"\n")
        return True


def answer(sock: socket.socket, name: bytes | None, line: bytes) -> bytes | None:
    """Carry out one received line; return the connection's name afterwards."""
    word, _, argument = line.partition(b" ")
    word = word.upper()
    if word == b"NAME":
        if name is not None:
            send_to(sock, b"ERR already-registered\n")
        elif not argument:
            send_to(sock, b"ERR syntax\n")
        elif register(sock, argument):
            return argument
        else:
            send_to(sock, b"ERR name-taken\n")
    elif word == b"MSG":
        if name is None:
            send_to(sock, b"ERR not-registered\n")
        elif not argument:
            send_to(sock, b"ERR syntax\n")
        else:
            relay(sock, b"MSG " + name + b" " + argument + b"\n")
    elif word == b"PING":
        send_to(sock, b"PONG" + (b" " + argument if argument else b"") + b"\n")
    else:
        send_to(sock, b"ERR unknown-command\n")
    return name


def serve(sock: socket.socket) -> None:
    name: bytes | None = None
    try:
        send_to(sock, b"HELLO linechat/1 naive-baseline\n")
        with sock.makefile("rb") as lines:
            for raw in lines:
                if not raw.endswith(b"\n"):
                    break  # bytes after the last LF are not a line
                line = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
                if line.upper() == b"EXIT" or line.upper().startswith(b"EXIT "):
                    send_to(sock, b"BYE\n")
                    break
                if line:
                    name = answer(sock, name, line)
    except OSError:
        pass
    finally:
        with room_lock:
            members.pop(sock, None)
        sock.close()


def main() -> None:
    listener = listen_from_cli("linechat/1 naive baseline relay (benchmark only)")
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
