"""A relay chat server written the way most first attempts are: short, and wrong in three ways.

The assignment: "the server accepts several clients; what one sends, the others receive".
The student's version forwards whatever ``recv(1024)`` returned to every other client, with
``send()``, from the thread of the client who sent it. Four bugs follow:

1. recv chunks as messages: a line longer than one read, or a line still being typed, is
   forwarded in pieces, and two clients talking at once get their pieces mixed: the others
   see one line cut into another.
2. a thread that dies on a reset: recv() raises ConnectionResetError, the thread dies (a
   traceback on stderr) and the dead socket stays in the list; the next client to speak
   gets BrokenPipeError on it and its thread dies too, until nobody is relayed at all.
3. a blocking send in the sender's thread: once a client that does not read has full
   buffers, send() blocks the sender's thread forever, and that sender is heard no more.
4. a client that leaves is closed but never removed from the list: the next message to
   it raises in the sender's thread, which dies.

Must fail: dialect.integrity (split and glued lines), dialect.close, dialect.reset and
dialect.churn (messages lost, with OSError, ConnectionResetError or BrokenPipeError
tracebacks), dialect.non-reader (nothing arrives for the timeout), dialect.load (lines cut
into each other). Passes fan-out, sender exclusion, long and non-ASCII messages (one sender
at a time, nobody leaving).

Run: python relay_buggy.py [--port N]   (default 8080, or the environment variable PORT)
"""

import os
import socket
import sys
import threading

HOST = "127.0.0.1"
PORT = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8080
PORT = int(os.environ.get("PORT", PORT)) if "--port" not in sys.argv else PORT

clients = []


def handle(conn):
    while True:
        data = conn.recv(1024)  # BUG 1 and 2: a piece of a line; raises on a reset
        if not data:
            break
        for client in clients:
            if client != conn:
                client.send(data)  # BUG 2, 3, 4: raises on a dead client; blocks on a full one
    conn.close()  # BUG 4: still in the list


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((HOST, PORT))
server.listen()
print("Сервер запущен на порту", PORT)

while True:
    conn, addr = server.accept()
    print("Подключился", addr)
    clients.append(conn)
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
