"""LISTEN/NOTIFY: the channel of one installation, payload decoding, and a self-healing listener.

The channel includes a hash of the schema and the prefix, so two installations in one database
never wake each other, and stays within PostgreSQL's 63-byte identifier limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

import psycopg
from psycopg import sql
from psycopg.abc import Query

from zapjobs.core.backoff import ReconnectSchedule
from zapjobs.errors import ConnectionFailedError, ZapJobsError
from zapjobs.models import Notification
from zapjobs.stores.base import NotificationHandler
from zapjobs.stores.postgres.errors import connect_error, one_line

logger = logging.getLogger("zapjobs.stores.postgres")

Connect = Callable[[], Awaitable[psycopg.AsyncConnection[object]]]


def _cause(exc: Exception, dsn: str) -> str:
    """A one-line, password-free reason for a log line."""
    return exc.message if isinstance(exc, ZapJobsError) else one_line(exc, dsn)


def _is_outage(exc: Exception) -> bool:
    return isinstance(exc, ConnectionFailedError | psycopg.OperationalError)


def channel_name(prefix: str, schema: str | None) -> str:
    digest = hashlib.sha256(f"{schema or ''}\0{prefix}".encode()).hexdigest()[:16]
    return f"{prefix}events_{digest}"


#: A run enqueued alone and due at once is notified on one of this many shard channels of the
#: installation (its id modulo this); each worker listens to the shards it ranks first for
#: (runtime/peers.py), so an enqueue wakes one worker process, not every listening one.
WAKE_SHARDS = 32


def shard_channel(channel: str, shard: int) -> str:
    """The name the enqueue statement builds (queries.sql, notify_shard): at most 63 bytes."""
    return f"{channel}_{shard}"


def decode(payload: str, shard: int | None = None) -> Notification | None:
    """A Notification from a payload like {"k":"runs","q":"default","d":2.5}; None when
    unknown. ``shard``: the shard channel it came on (None: the installation's channel)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    queue = data.get("q")
    queue = queue if isinstance(queue, str) else None
    if data.get("k") == "runs":
        count, token = _whole(data.get("n")), _whole(data.get("t"))
        if count is None or token is None:
            count = token = None
        return Notification(
            kind="runs",
            queue=queue,
            due_in=_due_in(data.get("d")),
            count=count,
            token=token,
            shard=shard,
        )
    run_id = data.get("r")
    if data.get("k") == "cancel" and isinstance(run_id, int) and not isinstance(run_id, bool):
        return Notification(kind="cancel", queue=queue, run_id=run_id)
    return None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _due_in(seconds: object) -> timedelta | None:
    """The "d" of a payload (seconds until due, only sent when positive); None when absent."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return timedelta(seconds=min(seconds, MAX_DUE_IN_SECONDS))


#: A due time further away than this is armed as this (the poll looks again before anyway).
MAX_DUE_IN_SECONDS = 86_400 * 365


class PostgresListener:
    """A dedicated autocommit connection doing LISTEN, read by one asyncio task.

    When the connection drops it reconnects with capped exponential backoff and then delivers
    one ``Notification("runs", queue=None)``: anything sent while it was away was lost, so the
    worker should poll once. An idle connection is pinged every ``ping_interval``; a ping with
    no answer within ``deadline`` (a stalled backend) counts as a drop. Losing the server is
    logged at DEBUG: the worker's own loops report an outage in one line (runtime/backoff.py),
    and the worker polls meanwhile.
    """

    def __init__(
        self,
        *,
        connect: Connect,
        dsn: str,
        listen_sql: str,
        unlisten_sql: str,
        ping_sql: str,
        channel: str,
        handler: NotificationHandler,
        ping_interval: float = 30.0,
        initial_backoff: float = 0.1,
        max_backoff: float = 10.0,
        deadline: float = 60.0,
    ) -> None:
        self._connect = connect
        self._dsn = dsn
        self._listen_sql = sql.SQL(listen_sql)
        self._unlisten_sql = sql.SQL(unlisten_sql)
        self._channel = channel
        #: shard channel name -> shard
        self._shard_names = {shard_channel(channel, s): s for s in range(WAKE_SHARDS)}
        #: the shards to listen to (every one until told which: a worker that knows no peers
        #: claims at every enqueue); those the connection listens to
        self._shards = frozenset(range(WAKE_SHARDS))
        self._listening: frozenset[int] = frozenset()
        #: held while a statement runs on the connection (the reader is off meanwhile)
        self._busy = asyncio.Lock()
        self._reader: Callable[[], None] | None = None
        self._ping = ping_sql
        self._handler = handler
        self._ping_interval = ping_interval
        self._schedule = ReconnectSchedule(first=initial_backoff, cap=max_backoff)
        self._deadline = deadline
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[object] | None = None
        self._closed = False

    async def start(self) -> None:
        """Connect and LISTEN before returning, so no notification sent afterwards is missed."""
        conn = await self._listening_connection()
        self._task = asyncio.create_task(self._run(conn), name="zapjobs-pg-listener")

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_connection()

    async def _listening_connection(self) -> psycopg.AsyncConnection[object]:
        try:
            conn = await self._connect()
        except psycopg.Error as exc:
            raise connect_error(exc, self._dsn) from exc
        # Before LISTEN: what arrives with a statement's answer (LISTEN's, a ping's) is read by
        # psycopg, which hands it here; the rest is read by _consume's reader.
        conn.add_notify_handler(self._on_notify)
        shards = self._shards
        try:
            await conn.execute(self._listen_statement([self._channel], shards))
        except psycopg.Error as exc:
            await conn.close()
            raise connect_error(exc, self._dsn) from exc
        self._conn = conn
        self._listening = shards
        return conn

    def _listen_statement(
        self, channels: list[str], shards: Iterable[int], unlisten: Iterable[int] = ()
    ) -> sql.Composed:
        listen = [*channels, *(shard_channel(self._channel, s) for s in sorted(shards))]
        statements = [self._listen_sql.format(channel=sql.Identifier(c)) for c in listen]
        statements += [
            self._unlisten_sql.format(channel=sql.Identifier(shard_channel(self._channel, s)))
            for s in sorted(unlisten)
        ]
        return sql.SQL("; ").join(statements)

    async def follow_shards(self, shards: frozenset[int] | None) -> None:
        """Listen to these shard channels (None: every one) from now on; returns once the
        connection listens to the new ones (then it stops listening to the others), or at once
        while it is away (reconnecting listens to the set given last)."""
        self._shards = frozenset(range(WAKE_SHARDS)) if shards is None else shards
        async with self._busy:
            if self._reader is not None and self._conn is not None:
                await self._follow(self._conn)

    async def _follow(self, conn: psycopg.AsyncConnection[object]) -> None:
        """LISTEN to the shards wanted and not yet listened to, UNLISTEN the others (``_busy``
        held, the reader on)."""
        shards = self._shards
        if conn.closed or self._listening == shards:
            return
        added, dropped = shards - self._listening, self._listening - shards
        try:
            await self._execute(conn, self._listen_statement([], added, dropped))
        except Exception as exc:  # the connection is lost: the next ping or read says so
            logger.debug("could not change the LISTENed shards: %s", one_line(exc, self._dsn))
            return
        self._listening = shards

    async def _run(self, conn: psycopg.AsyncConnection[object] | None) -> None:
        failures = 0
        while not self._closed:
            if conn is None:
                try:
                    conn = await self._listening_connection()
                except Exception as exc:  # keep trying until closed, whatever went wrong
                    failures += 1
                    cause = _cause(exc, self._dsn)
                    level = logging.DEBUG if _is_outage(exc) else logging.WARNING
                    logger.log(level, "cannot re-LISTEN on PostgreSQL (retrying): %s", cause)
                    await asyncio.sleep(self._schedule.delay(failures))
                    continue
                failures = 0
                self._deliver(Notification(kind="runs", queue=None))
            try:
                await self._consume(conn)
            except Exception as exc:
                if self._closed:
                    return
                logger.debug(
                    "lost the PostgreSQL LISTEN connection (reconnecting): %s",
                    one_line(exc, self._dsn),
                )
            await self._close_connection()
            conn = None

    async def _consume(self, conn: psycopg.AsyncConnection[object]) -> None:
        """Deliver notifications from a reader callback on the socket, as their bytes arrive;
        ping every ``ping_interval`` so a silently dead connection is noticed.

        Not psycopg's ``notifies()``: it registers and removes the socket with the event loop
        for every notification and wakes every 0.1 s while idle, about 140 us of CPU per
        notification more than this callback (280 against 140, 8 listening processes): at every
        enqueue each idle worker pays it, and the one chosen to claim waits for the cores they
        hold (bench/README.md, herd)."""
        loop = asyncio.get_running_loop()
        pgconn = conn.pgconn
        encoding = conn.info.encoding
        fd = pgconn.socket
        lost: asyncio.Future[None] = loop.create_future()
        shards = self._shard_names

        def drain() -> None:
            while (notify := pgconn.notifies()) is not None:
                payload = notify.extra.decode(encoding, "replace")
                self._deliver_payload(payload, shards.get(notify.relname.decode(encoding)))

        def readable() -> None:
            try:
                pgconn.consume_input()
            except psycopg.Error as exc:  # closed or broken: reconnect
                self._reader_off(fd)
                if not lost.done():
                    lost.set_exception(exc)
                return
            drain()

        def reader_on() -> None:
            drain()  # what came with the last statement's answer, if any
            loop.add_reader(fd, readable)

        try:
            async with self._busy:
                self._reader = reader_on
                reader_on()
                await self._follow(conn)  # told while connecting
            while not self._closed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._ping_interval):
                        await asyncio.shield(lost)
                async with self._busy:
                    await self._execute(conn, self._ping)
        finally:
            self._reader_off(fd)
            self._reader = None

    async def _execute(self, conn: psycopg.AsyncConnection[object], query: Query) -> None:
        """One statement on the listening connection, the reader off meanwhile (psycopg reads
        the answer, and hands over notifications that come with it)."""
        reader = self._reader
        assert reader is not None
        self._reader_off(conn.pgconn.socket)
        try:
            async with asyncio.timeout(self._deadline):
                await conn.execute(query)
        finally:
            if self._reader is reader and not conn.closed:
                reader()

    def _reader_off(self, fd: int) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(fd)

    def _on_notify(self, notify: psycopg.Notify) -> None:
        self._deliver_payload(notify.payload, self._shard_names.get(notify.channel))

    def _deliver_payload(self, payload: str, shard: int | None) -> None:
        notification = decode(payload, shard)
        if notification is not None:
            self._deliver(notification)

    def _deliver(self, notification: Notification) -> None:
        try:
            self._handler(notification)
        except Exception:
            logger.exception("a notification handler failed on %r", notification)

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()
