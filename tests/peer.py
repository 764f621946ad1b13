"""A raw line-level peer for the reference's own tests: literal bytes out, exact lines in.

Deliberately not built on linechat.codec, so the tests check the server's bytes rather than
what the codec would make of them. Every wait is bounded; synchronisation is by PING/PONG.
"""

from __future__ import annotations

import itertools
import socket
import struct
import time

TIMEOUT = 5.0
_tokens = itertools.count(1)


class Peer:
    """One TCP connection to a server under test."""

    def __init__(self, host: str, port: int, *, hello: bool = True) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self._buffer = b""
        if hello:
            line = self.line()
            assert line.startswith("HELLO linechat/1"), line

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def raw_line(self, timeout: float = TIMEOUT) -> bytes:
        """The next line with its LF, exactly as sent; EOF raises EOFError."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line within {timeout}s (have {self._buffer[:80]!r})")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed (partial {self._buffer[:80]!r})")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line + b"\n"

    def line(self, timeout: float = TIMEOUT) -> str:
        raw = self.raw_line(timeout)
        assert not raw.endswith(b"\r\n"), f"server sent CRLF: {raw!r}"
        return raw[:-1].decode("utf-8")

    def lines(self, count: int) -> list[str]:
        return [self.line() for _ in range(count)]

    def expect(self, *expected: str) -> None:
        for want in expected:
            got = self.line()
            assert got == want, f"expected {want!r}, got {got!r}"

    def expect_error(self, code: str) -> None:
        got = self.line()
        assert got == f"ERR {code}" or got.startswith(f"ERR {code} "), f"want ERR {code}: {got!r}"

    def until_pong(self) -> list[str]:
        """Send a PING and return every line that arrived before its PONG."""
        token = f"sync-{next(_tokens)}"
        self.send(f"PING {token}\n")
        seen: list[str] = []
        for _ in range(100_000):
            line = self.line()
            if line == f"PONG {token}":
                return seen
            seen.append(line)
        raise AssertionError("no PONG after 100000 lines")

    def quiet(self) -> None:
        """Assert that nothing arrived that the test did not expect (a PING barrier)."""
        extra = self.until_pong()
        assert extra == [], f"unexpected lines: {extra!r}"

    def register(self, name: str) -> None:
        self.send(f"NAME {name}\n")
        self.expect(f"WELCOME {name}")

    def expect_closed(self, timeout: float = TIMEOUT) -> None:
        try:
            extra = self.raw_line(timeout)
        except EOFError:
            return
        except ConnectionResetError:
            return
        raise AssertionError(f"expected the server to close, got {extra!r}")

    def reset(self) -> None:
        """Close with RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
