"""Delivery for the reference server: one shared broadcast log, one writer thread.

Theory of operation
-------------------
A broadcast is appended *once* to ``Room.log``, a list of byte chunks numbered by a global
index; it is not copied into every receiver's queue. Each receiver has a ``Mailbox`` holding
a cursor into the log, the indexes of its own chunks (skipped: a sender gets no copy, MSG-4)
and its private lines (replies such as PONG or WELCOME, each tagged with the log index it
must follow, so a reply comes after everything queued to that connection earlier, ORDER-1).

Other threads only append under ``Room.lock`` and wake the ``Writer``; they never touch a
socket, so no client's slowness reaches another (LOAD-3), and appending under one lock gives
every receiver the same order (ORDER-4). The writer sends each mailbox everything between
its cursor and the end of the log in one non-blocking ``send``: under load many lines leave
in one system call, and receivers that are level share one ``b"".join`` of the same chunks.
A receiver whose socket is full is watched until it is writable; once its unsent output
exceeds ``max_output`` it is dropped with ``LEAVE <name> kicked`` (LOAD-4). The log is
trimmed up to the slowest cursor, so memory stays bounded by that limit.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

from .codec import EndWho, Join, Leave, LeaveReason, User, Welcome, encode, name_key

__all__ = ["Mailbox", "Room", "Writer"]

log = logging.getLogger("linechat.server")

TRIM_CHUNKS = 1024
"""Trim the log once this many chunks lie behind every cursor (amortises the list copy)."""


class Mailbox:
    """One connection's place in the delivery stream. Fields marked (writer) are touched
    only by the writer thread; the others are appended under ``Room.lock``."""

    def __init__(self, sock: socket.socket, ident: str, address: str) -> None:
        self.sock = sock
        self.ident = ident
        self.address = address
        self.name: str | None = None
        self.cursor: int | None = None  # next log index to deliver; None: gets no broadcasts
        self.stop_at: int | None = None  # deliver log chunks before this index only
        self.own: deque[int] = deque()  # indexes of this client's own chunks (skipped)
        self.private: deque[tuple[int, bytes]] = deque()  # (after log index, line)
        self.partial: memoryview | None = None  # (writer) what the kernel did not take
        self.watched = False  # (writer) registered for writability
        self.closing = False
        self.shutdown_how = socket.SHUT_WR
        self.dead = False  # nothing more will ever be sent
        self.drained = threading.Event()  # set once closed and everything was sent

    def __repr__(self) -> str:
        return f"{self.ident} {self.name or self.address}"

    def kill(self) -> None:
        """Stop sending and wake the reader thread (a kicked, broken or stopped connection)."""
        self.dead = True
        self.partial = None
        self.drained.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class Room:
    """Who is here and the broadcast log, under one lock: registration, broadcast and leave
    are atomic. Methods that take the lock never touch a socket."""

    def __init__(self, max_output: int) -> None:
        self.lock = threading.Lock()
        self.members: dict[str, Mailbox] = {}  # name_key -> mailbox, in registration order
        self.max_output = max_output
        self.log: list[bytes] = []
        self.starts: list[int] = []  # byte offset of each chunk in the whole stream
        self.base = 0  # index of log[0]
        self.total = 0  # bytes ever appended
        self.readers: set[Mailbox] = set()  # mailboxes with a cursor (they pin the log)
        self.dirty: set[Mailbox] = set()  # mailboxes with new private lines
        self.broadcast_pending = False
        self.writer: Writer | None = None  # set by the Writer; woken after every change

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    # -- called by connection threads

    def register(self, box: Mailbox, name: str) -> bool:
        """Register ``box`` as ``name``, WELCOME it and JOIN the others; False if taken."""
        with self.lock:
            key = name_key(name)
            if key in self.members:
                return False
            box.name = name
            box.cursor = self.end
            self.readers.add(box)
            self._private(box, encode(Welcome(name)))
            self._broadcast(encode(Join(name)), box)
            self.members[key] = box
        self._wake()
        return True

    def say(self, sender: Mailbox, relayed: bytes) -> None:
        """Broadcast already-encoded relay lines from ``sender`` to everyone else."""
        with self.lock:
            if sender.name is not None and self.members.get(name_key(sender.name)) is sender:
                self._broadcast(relayed, sender)
        self._wake()

    def who(self, asker: Mailbox) -> None:
        """WHO-4: the list and the reply are made under the lock, so they are one snapshot."""
        with self.lock:
            lines = [encode(User(m.name)) for m in self.members.values() if m.name]
            lines.append(encode(EndWho(len(lines))))
            self._private(asker, b"".join(lines))
        self._wake()

    def reply(self, box: Mailbox, line: bytes) -> None:
        """A line for ``box`` alone, after everything queued to it before (ORDER-1)."""
        with self.lock:
            self._private(box, line)
        self._wake()

    def leave(self, box: Mailbox, reason: LeaveReason) -> bool:
        """Remove ``box`` and announce it; False if it was not (or no longer) a member."""
        with self.lock:
            left = self._remove(box, reason)
        self._wake()
        return left

    def close(self, boxes: list[Mailbox], last: bytes | None, *, wake_reader: bool) -> None:
        """Queue ``last`` (a BYE) to each box, then shut its socket down once all is sent:
        the write side only (its reader drains input until the peer closes), or both sides
        when the server, not the peer, ends the connection (``wake_reader``). Nothing that
        is broadcast after this point reaches these boxes."""
        with self.lock:
            for box in boxes:
                if box.closing or box.dead:
                    continue
                box.closing = True
                box.shutdown_how = socket.SHUT_RDWR if wake_reader else socket.SHUT_WR
                if box.cursor is not None and box.stop_at is None:
                    box.stop_at = self.end
                if last:
                    self._private(box, last)
                self.dirty.add(box)
        self._wake()

    # -- with self.lock held

    def _remove(self, box: Mailbox, reason: LeaveReason) -> bool:
        name = box.name
        if name is None or self.members.get(name_key(name)) is not box:
            return False
        del self.members[name_key(name)]
        box.stop_at = self.end  # it gets nothing broadcast from now on
        self.dirty.add(box)
        self._broadcast(encode(Leave(name, reason)), None)
        log.info("%r left (%s)", box, reason.value)
        return True

    def _broadcast(self, data: bytes, sender: Mailbox | None) -> None:
        if sender is not None:
            sender.own.append(self.end)
        self.log.append(data)
        self.starts.append(self.total)
        self.total += len(data)
        self.broadcast_pending = True

    def _private(self, box: Mailbox, line: bytes) -> None:
        box.private.append((self.end, line))
        self.dirty.add(box)

    def _wake(self) -> None:
        if self.writer is not None:
            self.writer.deliver()

    # -- called by the writer thread

    def take_work(self) -> tuple[int, list[Mailbox], bool]:
        """The log end, the mailboxes to flush, and whether a broadcast happened."""
        with self.lock:
            broadcast, self.broadcast_pending = self.broadcast_pending, False
            boxes = self.dirty
            self.dirty = set()
            if broadcast:
                boxes |= self.readers
            return self.end, list(boxes), broadcast

    def kick(self, box: Mailbox, unsent: int) -> None:
        with self.lock:
            if box.name is not None and self._remove(box, LeaveReason.KICKED):
                log.warning("%r kicked: %d bytes unsent (limit %d)", box, unsent, self.max_output)
            self.readers.discard(box)
            box.cursor = None
        box.kill()

    def forget(self, box: Mailbox) -> None:
        """``box`` is closed: it pins the log no more."""
        with self.lock:
            self.readers.discard(box)
            self.dirty.discard(box)
            box.cursor = None

    def trim(self) -> None:
        """Drop the chunks every cursor has passed."""
        with self.lock:
            cursors = [b.cursor for b in self.readers if b.cursor is not None]
            low = min(cursors, default=self.end)
            count = low - self.base
            if count >= TRIM_CHUNKS or (count and not cursors):
                del self.log[:count]
                del self.starts[:count]
                self.base = low

    def chunk_bytes(self, first: int, last: int) -> int:
        """Bytes in log chunks ``first`` up to (not including) ``last``."""
        if first >= last:
            return 0
        end_offset = self.total if last >= self.end else self.starts[last - self.base]
        return end_offset - self.starts[first - self.base]


class Writer(threading.Thread):
    """The one thread that sends. It flushes the mailboxes that have something new, watches
    full sockets until they are writable, kicks receivers that fall too far behind, and runs
    the periodic timeout check, so no thread sleeps per connection."""

    def __init__(self, room: Room, tick: Callable[[], None], tick_interval: float | None) -> None:
        super().__init__(name="linechat-writer", daemon=True)
        self.room = room
        room.writer = self
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._woken = False
        self._sending = threading.Lock()  # one round at a time, on whichever thread
        self._backlogged: list[Mailbox] = []  # (under _sending) left over, to be watched
        self._stopping = False
        self._retired: list[Mailbox] = []
        self._retire_lock = threading.Lock()
        self._closed = False
        self._tick = tick
        self._tick_interval = tick_interval

    def deliver(self) -> None:
        """Called by a connection thread after it queued something: send it at once on this
        thread if no round is in progress (no thread hand-off at low load); otherwise the
        writer does it. A backlog, a full socket or a closing one is left to the writer."""
        if threading.current_thread() is self or not self._sending.acquire(blocking=False):
            self.wake()
            return
        try:
            if self._round([], direct=True):
                self.wake()
        finally:
            self._sending.release()

    def wake(self) -> None:
        if not self._woken:  # one wake-up per round, not per line
            self._woken = True
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_w.send(b"\0")

    def retire(self, box: Mailbox) -> None:
        """Close ``box``'s socket on the writer thread, the only thread that sends on it, so
        that a send can never race a close (and hit a reused descriptor)."""
        with self._retire_lock:
            if not self._closed:
                self._retired.append(box)
                self.wake()
                return
        box.sock.close()

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def run(self) -> None:
        next_tick = time.monotonic() + (self._tick_interval or 0)
        try:
            while not self._stopping:
                timeout = None
                if self._tick_interval is not None:
                    timeout = max(0.0, next_tick - time.monotonic())
                writable = []
                for key, _ in self._selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(BlockingIOError):
                            self._wake_r.recv(4096)
                    else:
                        writable.append(key.data)
                with self._sending:
                    self._round(writable)
                if self._tick_interval is not None and time.monotonic() >= next_tick:
                    self._tick()
                    next_tick = time.monotonic() + self._tick_interval
        finally:
            with self._retire_lock:
                self._closed = True
                self._close_retired()
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _close_retired(self) -> None:
        boxes, self._retired = self._retired, []
        for box in boxes:
            self._unwatch(box)
            box.sock.close()

    def _round(self, writable: list[Mailbox], *, direct: bool = False) -> bool:
        """Send every mailbox what it is due. A ``direct`` round runs on a connection thread
        and leaves the selector alone: it returns True if the writer must follow up (a box
        became or is backlogged, or a socket is to be closed)."""
        if not direct:
            self._woken = False  # changes from here on need another round
        end, boxes, broadcast = self.room.take_work()
        shared: dict[tuple[int, int], bytes] = {}  # level receivers share one join
        follow_up = False
        for box in dict.fromkeys([*boxes, *writable]):
            if box.watched and box not in writable:
                follow_up = True  # still full: the writer checks how far behind it is
            elif box.dead:
                follow_up = follow_up or box.watched
            elif self._flush(box, end, shared):
                self._backlogged.append(box)
                follow_up = True
        if broadcast:
            self.room.trim()
        if direct:
            return follow_up or bool(self._retired)
        # The writer's part: watch every backlog until writable, drop the hopeless ones.
        watched = [key.data for key in self._selector.get_map().values() if key.data]
        backlogged, self._backlogged = self._backlogged, []
        for box in dict.fromkeys([*backlogged, *watched]):
            if box.dead:
                self._unwatch(box)
            elif box.partial is not None:
                self._watch(box)
                self._check_backlog(box, end)
        if self._retired:
            with self._retire_lock:
                self._close_retired()
        return False

    def _flush(self, box: Mailbox, end: int, shared: dict[tuple[int, int], bytes]) -> bool:
        """Send ``box`` what it is due without blocking; True if some of it is left over
        (in ``box.partial``, for the writer to watch)."""
        cursor = box.cursor
        if (  # the common case: a level receiver with nothing of its own in the way
            box.partial is None
            and cursor is not None
            and cursor < end
            and box.stop_at is None
            and not box.private
            and (not box.own or box.own[0] >= end)
        ):
            data: bytes | memoryview | None = shared.get((cursor, end))
            if data is None:
                base = self.room.base
                data = shared[(cursor, end)] = b"".join(self.room.log[cursor - base : end - base])
            box.cursor = end
        else:
            pieces = self._collect(box, end, shared)
            if not pieces:
                self._finish_if_done(box)
                return False
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        try:
            sent = box.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            box.kill()  # its reader thread sees the broken socket and says LEAVE
            return False
        if sent < len(data):
            box.partial = memoryview(data)[sent:]
            return True
        box.partial = None
        if box.watched and threading.current_thread() is self:
            self._unwatch(box)
        self._finish_if_done(box)
        return False

    def _collect(
        self, box: Mailbox, end: int, shared: dict[tuple[int, int], bytes]
    ) -> list[bytes | memoryview]:
        """Everything ``box`` is due, in order: the unsent rest, then log chunks and private
        lines interleaved by index, skipping the box's own chunks. Advances the cursor."""
        room = self.room
        pieces: list[bytes | memoryview] = []
        if box.partial is not None:
            pieces.append(box.partial)
        private, own = box.private, box.own
        if box.cursor is not None:
            pos = box.cursor
            stop = end if box.stop_at is None else min(end, box.stop_at)
            while True:
                while private and private[0][0] <= pos:
                    pieces.append(private.popleft()[1])
                if pos >= stop:
                    break
                upto = stop
                if own and own[0] < upto:
                    upto = own[0]
                if private and private[0][0] < upto:
                    upto = private[0][0]
                if upto > pos:
                    run = shared.get((pos, upto))
                    if run is None:
                        run = b"".join(room.log[pos - room.base : upto - room.base])
                        shared[(pos, upto)] = run
                    pieces.append(run)
                    pos = upto
                if own and own[0] == pos:
                    own.popleft()
                    pos += 1
            box.cursor = pos
            if box.stop_at is None or pos < box.stop_at:
                return pieces
        while private:  # not (or no longer) a receiver of broadcasts: the rest is private
            pieces.append(private.popleft()[1])
        return pieces

    def _check_backlog(self, box: Mailbox, end: int) -> None:
        """LOAD-4: drop a receiver whose unsent output exceeds the limit."""
        unsent = len(box.partial) if box.partial is not None else 0
        if box.cursor is not None:
            due = end if box.stop_at is None else min(end, box.stop_at)
            unsent += self.room.chunk_bytes(box.cursor, due)
            unsent -= sum(self.room.chunk_bytes(i, i + 1) for i in box.own if i < due)
        unsent += sum(len(line) for _, line in box.private)
        if unsent > self.room.max_output:
            self._unwatch(box)
            self.room.kick(box, unsent)

    def _finish_if_done(self, box: Mailbox) -> None:
        if not box.closing or box.dead or box.private or box.partial is not None:
            return
        if box.cursor is not None and box.stop_at is not None and box.cursor < box.stop_at:
            return
        box.dead = True
        with contextlib.suppress(OSError):
            box.sock.shutdown(box.shutdown_how)
        self.room.forget(box)
        box.drained.set()

    def _watch(self, box: Mailbox) -> None:
        if not box.watched:
            with contextlib.suppress(ValueError, KeyError, OSError):
                stale = self._selector.get_map().get(box.sock.fileno())
                if stale is not None:  # a closed socket whose number was reused
                    self._selector.unregister(stale.fileobj)
                    stale.data.watched = False
                self._selector.register(box.sock, selectors.EVENT_WRITE, box)
                box.watched = True

    def _unwatch(self, box: Mailbox) -> None:
        if box.watched:
            box.watched = False
            with contextlib.suppress(ValueError, KeyError, OSError):
                self._selector.unregister(box.sock)
