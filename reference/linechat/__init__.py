"""linechat: the linechat/1 chat protocol.

- ``linechat.codec``: the wire format as a sans-IO library (no sockets, no threads).
- ``linechat.server``: the threaded reference server (``linechat-server``).
- ``linechat.terminal``: the threaded terminal client (``linechat-client``).
- ``linechat.client``: a small blocking client library for bots, tests and other clients.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
