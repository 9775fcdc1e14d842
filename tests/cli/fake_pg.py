"""A loopback stand-in for a PostgreSQL server that asks for a password and rejects it (SQLSTATE
28P01), so the "wrong password" path can be tested although the test server trusts everyone.
It speaks only the start of the protocol: SSL/GSS refusal, startup, cleartext password."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _error(message: str) -> bytes:
    fields = b"".join(
        kind + text.encode() + b"\0"
        for kind, text in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28P01"), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


def _serve_one(conn: socket.socket) -> None:
    with conn:
        conn.settimeout(10)
        while True:
            (length,) = struct.unpack("!I", _read_exact(conn, 4))
            payload = _read_exact(conn, length - 4)
            (code,) = struct.unpack("!I", payload[:4])
            if code in (_SSL_REQUEST, _GSS_REQUEST):
                conn.sendall(b"N")
                continue
            break
        conn.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
        kind = _read_exact(conn, 1)
        (length,) = struct.unpack("!I", _read_exact(conn, 4))
        _read_exact(conn, length - 4)
        if kind == b"p":
            conn.sendall(_error('password authentication failed for user "postgres"'))


@contextmanager
def password_rejecting_server() -> Iterator[int]:
    """Yields the port of a server on 127.0.0.1 that rejects every password."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stopping = threading.Event()

    def loop() -> None:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with suppress(OSError, ConnectionError, struct.error):
                _serve_one(conn)

    thread = threading.Thread(target=loop, name="fake-pg", daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stopping.set()
        thread.join(timeout=5)
        server.close()
