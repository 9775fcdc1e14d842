"""Claims runs for the free slots, in one store call (half the slots at most, from 10 slots up:
``claim_size``), and sleeps until there may be more.

It claims again at once while the last claim came back full and slots are free; otherwise it
sleeps until woken by a notification for one of its queues (only when it has free slots), by a
freed slot after a full claim, by the due time of the earliest run it knows of, or by the poll
timer (the safety net). It never claims more runs than free slots.

Due times: after a claim that came back short, the fetcher asks the store once which pending
runs of its queues and job types are due next (``Store.next_due``, one index lookup: their ids
and how long until each is due) and arms a timer for the earliest. It asks again only when that
time has passed, after the poll, or when told that anything may have changed (a notification
without a queue: a reconnected listener, another process's commit on SQLite; a FakeClock that
moved). Meanwhile every write that makes runs pending (enqueue, retry, rescue, schedule)
notifies with ``due_in``: a run due later makes the fetcher read again (no claim). Timers are in
the event loop's monotonic time, from relative delays computed by the store's clock, so a worker
whose clock is off still wakes on time.

Wake-ups are targeted: only about as many workers as new runs claim, and at a run's due time
only the worker chosen for it; the others look again a little later, with a read, and claim
only if it is still pending (peers.py). On PostgreSQL the listener is told, at every read of
the peers, which shard channels this worker ranks first for: a run enqueued alone wakes only
that worker's process.

Flow control: runs held back by a concurrency cap are due again after ``CAP_RECHECK`` (1 s);
while a cap or rate limit applies to its queues or job types (read at the start and with the
peers), a worker whose last claim came back short claims again when its outcomes are written
(the run that ended may have held the cap: its slot is free for the store only then), and a
used-up rate window is due when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from zapjobs.clock import Clock, FakeClock
from zapjobs.core.backoff import ReconnectSchedule
from zapjobs.models import DueRun, JobRun, LimitScope, Notification
from zapjobs.runtime import peers
from zapjobs.runtime.backoff import Outages, Retry
from zapjobs.stores.base import ShardedListener, Store

logger = logging.getLogger("zapjobs.worker")

#: The first wait when the store says a run is due but the claim found none (it is being
#: claimed by another worker); doubles up to the polling interval.
OVERDUE_FIRST_WAIT = 0.005
#: Up to this many slots, a claim asks for every free slot (claim_size).
CLAIM_SIZE_FLOOR = 10
#: How often a fetcher held back by ``may_claim`` looks again.
HELD_BACK_POLL_SECONDS = 1.0
#: How long a read of the peers waits for the listener to listen to the shards it ranks first
#: for before ranking by the new list anyway.
FOLLOW_SHARDS_SECONDS = 1.0


def claim_size(concurrency: int) -> int:
    """The most runs one claim asks for: half the slots (from 10 slots up), so that while a
    claim's round trip runs, the runs of the claim before it run in the worker (a no-op job
    ends in the same turn of the event loop as it starts: claiming every free slot at once
    left the worker idle during the claim and the server idle during the jobs)."""
    return max(min(concurrency, CLAIM_SIZE_FLOOR), concurrency // 2)


class Fetcher:
    def __init__(
        self,
        *,
        store: Store,
        worker_id: str,
        queues: Sequence[str],
        job_types: Sequence[str],
        concurrency: int,
        polling_interval: float,
        clock: Clock | None,
        in_flight: Callable[[], int],
        start_run: Callable[[JobRun], None],
        burst: bool = False,
        before_burst_exit: Callable[[], Awaitable[None]] | None = None,
        describe_error: Callable[[BaseException], str] = str,
        may_claim: Callable[[], bool] = lambda: True,
        outages: Outages | None = None,
        on_claim: Callable[[int, list[JobRun]], None] | None = None,
        peer_stale_after: float = 60.0,
    ) -> None:
        #: set by the worker once it listens on shard channels (PostgreSQL): told the shards
        #: this worker ranks first for at every read of the peers, before it ranks by them
        self.shards: ShardedListener | None = None
        self._store = store
        self._worker_id = worker_id
        self._queues = list(queues)
        self._queue_set = frozenset(queues)
        self._job_types = list(job_types)
        self._job_type_set = frozenset(job_types)
        self._concurrency = concurrency
        self._claim_size = claim_size(concurrency)
        self._poll = polling_interval
        self._clock = clock
        self._in_flight = in_flight
        self._start_run = start_run
        self._burst = burst
        self._before_burst_exit = before_burst_exit
        self._may_claim = may_claim  # False while this worker cannot write results
        self._on_claim = on_claim  # (runs asked for, runs claimed), e.g. for metrics
        # after a failed claim: 0.5 s, doubling, up to the polling interval (0.5 to 5 s)
        self._retry = Retry(
            "claiming runs",
            outages or Outages(logger, describe_error=describe_error),
            schedule=ReconnectSchedule(first=0.5, cap=min(max(polling_interval, 0.5), 5.0)),
            describe_error=describe_error,
        )
        self._wake = asyncio.Event()  # something to look at: claim now, or a timer to re-arm
        self._claim_now = False
        self._stopping = False
        self._last_claim_full = False
        #: loop time at which every idle worker claims (None: none known): a due time the store
        #: told without a run to target (flow control), or a back-off while a run is overdue
        self._due_at: float | None = None
        #: the earliest pending runs by loop time of their due time (from the last next_due):
        #: at a run's due time its chosen worker claims, the others look later (peers.py)
        self._upcoming: list[tuple[float, DueRun]] = []
        #: whether ``_due_at`` reflects the store (else ask it after the next short claim)
        self._due_known = False
        self._last_claim_empty = False
        self._overdue_wait = 0.0  # back-off while a due run is another worker's
        #: queue -> live workers serving it (targeted wake-ups); empty until first read
        self._peers: dict[str, frozenset[str]] = {}
        self._peers_read_at: float | None = None
        #: seconds until the next read: from FIRST_REFRESH_SECONDS, doubling to REFRESH_SECONDS
        self._peers_refresh = peers.FIRST_REFRESH_SECONDS
        self._peer_stale_after = peer_stale_after
        self._passing: set[asyncio.Task[None]] = set()
        self._following: set[asyncio.Future[None]] = set()
        #: queues of targeted wake-ups this worker accepted and no claim has served yet
        self._owed: set[str] = set()
        #: whether a concurrency cap or rate limit applies to this worker's queues or job types
        #: (re-read with the peers): written outcomes then make it claim again, since the run
        #: that ended may have held a capped job type's slot, which no notification announces
        self._limited = False

    def free_slots(self) -> int:
        return self._concurrency - self._in_flight()

    # --- wake-ups (called on the event loop) --------------------------------------------------
    def on_notification(self, notification: Notification) -> None:
        if notification.kind != "runs":
            return
        if notification.queue is None:
            # Anything may have changed (another process's commit on SQLite, a reconnected
            # listener): read what is due, and the worker chosen for each due run claims it;
            # a worker without peers claims at once (nobody to share with: the read is waste).
            self._due_known = False
            if self._alone():
                self._wake_to_claim()
            else:
                self._wake.set()
            return
        if notification.queue not in self._queue_set:
            return
        due_in = notification.due_in
        if due_in is not None and due_in.total_seconds() > 0:
            # A run due later: read which one it is (its id decides who claims it then), unless
            # it comes after every run already known of a full list (read again by then).
            if asyncio.get_running_loop().time() + due_in.total_seconds() < self._horizon():
                self._due_known = False
                self._wake.set()  # re-arm the timer; no claim
            return
        targeted = notification.count is not None and notification.token is not None
        if targeted and not self._chosen(notification):
            return  # other workers were chosen for these runs
        if self.free_slots() > 0 and not self._stopping and self._may_claim():
            if targeted and notification.queue is not None:
                self._owed.add(notification.queue)  # passed on if this worker fills up first
            self._wake_to_claim()
        elif targeted and notification.queue is not None:
            self._pass_on(notification.queue)

    def _chosen(self, notification: Notification) -> bool:
        assert notification.count is not None and notification.token is not None
        known = self._peers.get(notification.queue or "")
        if not known:
            return True  # no list yet: look, as an untargeted wake-up would
        if notification.shard is not None:
            # On a shard channel: only the workers ranked first for that shard listen to it
            # (one per queue); this one may listen for another of its queues.
            return peers.chosen(self._worker_id, known, 1, notification.shard)
        return peers.chosen(self._worker_id, known, notification.count, notification.token)

    def _pass_on_owed(self) -> None:
        """Targeted wake-ups accepted but not served by a claim (the slots filled meanwhile)."""
        for queue in sorted(self._owed):
            self._pass_on(queue)
        self._owed.clear()

    def _pass_on(self, queue: str) -> None:
        """Chosen but unable to claim now: wake every idle worker of the queue instead."""
        task = asyncio.create_task(self._wake_others(queue), name="zapjobs-wake-on")
        self._passing.add(task)
        task.add_done_callback(self._passing.discard)

    async def _wake_others(self, queue: str) -> None:
        try:
            await self._store.wake(queue)
        except Exception as exc:  # the poll of the others is the net
            logger.debug("could not pass a wake-up of queue %r on: %s", queue, exc)

    def on_slot_freed(self) -> None:
        if self._last_claim_full or self._burst:
            self._wake_to_claim()

    def on_outcomes_written(self) -> None:
        """Outcomes reached the store: under a cap, the slots they held are free only now, so
        a worker whose last claim came back short (maybe held back by the cap) looks again."""
        limited = self._limited and not self._last_claim_full
        if limited and not self._stopping and self.free_slots() > 0:
            self._wake_to_claim()

    def stop(self) -> None:
        self._stopping = True
        self._pass_on_owed()
        self._wake_to_claim()

    def _wake_to_claim(self) -> None:
        self._claim_now = True
        self._wake.set()

    def _due_by(self, when: float) -> None:
        if self._due_at is None or when < self._due_at:
            self._due_at = when

    def _alone(self) -> bool:
        """Whether no other live worker serves any of this worker's queues (as last read)."""
        return all(not (self._peers.get(q, frozenset()) - {self._worker_id}) for q in self._queues)

    def _horizon(self) -> float:
        """Up to when the runs read last are all the pending runs (a full list may miss later
        ones)."""
        if self._due_known and len(self._upcoming) >= peers.UPCOMING_RUNS:
            return self._upcoming[-1][0]
        return float("inf")

    # --- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Claim until stopped; with ``burst``, return once nothing is due and nothing runs."""
        forget = self._follow_fake_clock()
        try:
            await self._run()
        finally:
            forget()

    def _follow_fake_clock(self) -> Callable[[], None]:
        """A test's FakeClock moves without real time passing: look again when it moves."""
        if not isinstance(self._clock, FakeClock):
            return lambda: None
        loop = asyncio.get_running_loop()

        def moved() -> None:
            # Read what is due now: its chosen worker claims (a timer wake-up, targeted).
            self._due_known = False
            self._last_claim_empty = False
            self._wake.set()

        def from_any_thread() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(moved)

        return self._clock.on_moved(from_any_thread)

    async def _run(self) -> None:
        idle_checked = False
        await self._read_limits()
        while not self._stopping:
            free = self.free_slots()
            if free <= 0:
                self._last_claim_full = True
                self._wake.clear()  # no await since free_slots(): no wake-up can be lost
                self._claim_now = False
                self._pass_on_owed()
                await self._sleep(None)
                continue
            self._wake.clear()
            self._claim_now = False
            if not self._may_claim():
                self._pass_on_owed()
                await self._sleep(min(self._poll, HELD_BACK_POLL_SECONDS))
                continue
            covering, self._owed = self._owed, set()
            asked = min(free, self._claim_size)
            try:
                runs = await self._claim(asked)
            except Exception as exc:
                self._owed |= covering
                self._pass_on_owed()
                await self._sleep(self._retry.failed(exc))
                continue
            if len(runs) == asked:
                self._owed |= covering  # more may be due than this claim took
            if covering and not runs:
                # Chosen, and another worker took the runs: some list of peers is stale (a
                # worker joined or left); look again soon rather than at the next refresh.
                self._peers_refresh = peers.FIRST_REFRESH_SECONDS
            self._retry.succeeded()
            self._last_claim_empty = not runs
            if runs:
                self._overdue_wait = 0.0
            for run in runs:
                self._start_run(run)
            if self._on_claim is not None:
                self._on_claim(asked, runs)
            self._last_claim_full = len(runs) == asked
            if self._last_claim_full:
                idle_checked = False
                continue
            if self._burst:
                if runs or self._in_flight() > 0:
                    idle_checked = False
                elif not idle_checked:
                    # Results still buffered may turn into due runs (an immediate retry):
                    # write them, then look once more before leaving.
                    if self._before_burst_exit is not None:
                        await self._before_burst_exit()
                    idle_checked = True
                    continue
                else:
                    return
            await self._idle()

    async def _idle(self) -> None:
        """Sleep until told to claim, until the earliest known due time, or for the polling
        interval, whichever comes first; a notification of a run due later re-arms the timer.
        At a known run's due time only the worker chosen for it claims; the others look again a
        little later (a read) and claim only if it is still pending (chosen worker busy or
        dead). The list of peers (targeted wake-ups) is re-read meanwhile, without a claim."""
        loop = asyncio.get_running_loop()
        if self._claim_now:
            return
        if self._due_at is not None and self._due_at <= loop.time():
            self._due_known = False
        poll_at = loop.time() + self._poll
        while not self._stopping and not self._claim_now:
            read_at = self._peers_read_at
            if read_at is None or loop.time() - read_at >= self._peers_refresh:
                await self._read_peers()
                continue
            if not self._due_known:
                if await self._look_ahead():
                    return
                continue
            now = loop.time()
            if poll_at <= now:
                self._due_known = False  # the safety net: trust nothing known before it
                return
            if self._due_at is not None and self._due_at <= now:
                self._due_known = False  # look again after this claim
                return
            action = peers.next_action(self._worker_id, self._upcoming, self._peers)
            if action is not None and action[0] <= now:
                _, claim, run = action
                if claim:  # chosen for this run (the runs after it have their own)
                    self._due_known = False
                    return
                if await self._look_ahead(backing_up=run.id):
                    return
                continue
            wake_at = min(
                poll_at,
                read_at + self._peers_refresh,
                poll_at if self._due_at is None else self._due_at,
                poll_at if action is None else action[0],
            )
            self._wake.clear()
            await self._sleep(wake_at - now)

    async def _read_peers(self) -> None:
        self._peers_read_at = asyncio.get_running_loop().time()
        self._peers_refresh = min(2 * self._peers_refresh, peers.REFRESH_SECONDS)
        try:
            workers = await self._store.list_workers()
        except Exception as exc:  # keep the last list; untargeted wake-ups still work
            logger.debug("could not read the workers for targeted wake-ups: %s", exc)
            return
        known = peers.live_peers(workers, self._peer_stale_after)
        if self.shards is not None:
            # Listen to the shards it now ranks first for before ranking by the new list, so
            # a shard it takes over is never left without a listener meanwhile.
            owned = peers.owned_shards(
                self._worker_id, self._queues, known, self.shards.shard_count
            )
            await self._follow_shards(self.shards, owned)
        self._peers = known
        await self._read_limits()

    async def _follow_shards(self, listener: ShardedListener, owned: frozenset[int] | None) -> None:
        """Wait for the listener to follow, but not for long: a stalled listening connection
        must not stall the claims (it goes on in the background; the poll is the net)."""
        following = asyncio.ensure_future(listener.follow_shards(owned))
        self._following.add(following)
        following.add_done_callback(self._following.discard)
        try:
            async with asyncio.timeout(FOLLOW_SHARDS_SECONDS):
                await asyncio.shield(following)
        except TimeoutError:
            logger.debug("the listener has not followed this worker's shards yet")

    async def _read_limits(self) -> None:
        try:
            limits = await self._store.list_flow_limits()
        except Exception as exc:  # keep the last answer; the poll is the net
            logger.debug("could not read the flow limits: %s", exc)
            return
        self._limited = any(
            x.limited
            and x.name in (self._queue_set if x.scope is LimitScope.QUEUE else self._job_type_set)
            for x in limits
        )

    async def _look_ahead(self, *, backing_up: int | None = None) -> bool:
        """Ask the store which runs become due next (their ids and due times); notifications
        that arrive meanwhile are kept (the earlier time wins). ``backing_up``: the run whose
        chosen worker should have claimed it by now. True: claim now (that run is still
        pending)."""
        loop = asyncio.get_running_loop()
        self._due_at = None
        self._upcoming = []
        self._due_known = True
        now = self._clock.now() if self._clock is not None else None
        try:
            found = await self._store.next_due(
                self._queues, self._job_types, now=now, runs=peers.UPCOMING_RUNS
            )
        except Exception as exc:
            # Logged like a failed claim; look (claim) again after its back-off, not at once.
            self._due_by(loop.time() + self._retry.failed(exc))
            return False
        if found is None:
            return False
        at = loop.time()
        for run in found.runs:
            if run.id == backing_up and run.due_in.total_seconds() <= 0:
                # Its chosen worker did not take it (busy or dead): claim it here.
                self._due_known = False
                return True
        seconds = found.due_in.total_seconds()
        floor = at  # for runs due already
        if seconds > 0:
            self._overdue_wait = 0.0
        elif self._last_claim_empty:
            # Due already, and this worker's claim just found nothing: another worker holds it
            # (or is claiming it); back off a little, doubling while that goes on.
            self._overdue_wait = min(max(2 * self._overdue_wait, OVERDUE_FIRST_WAIT), self._poll)
            floor = at + self._overdue_wait
        self._last_claim_empty = False  # one back-off per empty claim
        if found.runs and not self._limited:
            self._upcoming = [(max(at + r.due_in.total_seconds(), floor), r) for r in found.runs]
        else:  # flow control decides what is due: every idle worker looks then
            self._due_by(max(at + seconds, floor))
        return False

    async def _claim(self, limit: int) -> list[JobRun]:
        now = self._clock.now() if self._clock is not None else None
        return await self._store.claim(
            self._worker_id, self._queues, self._job_types, limit, now=now
        )

    async def _sleep(self, seconds: float | None) -> None:
        if self._stopping:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass
