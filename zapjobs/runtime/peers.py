"""Targeted wake-ups: an enqueue wakes about as many workers as it made runs, not every idle one.

PostgreSQL signals every listening backend at each NOTIFY, and each idle worker of the queue used
to claim once: 8 idle workers made 8 claims per job, 7 of them empty. Now a notification of new
runs due at once carries their number ``count`` and a ``token`` (the lowest new id). Every worker
ranks the live workers serving the queue (itself always included) by a hash of (token, worker
id), the same order in every process (rendezvous hashing), and only the first ``count`` claim.
The others do nothing. Then:

- the chosen worker is busy (no free slot), stopping or held back: it passes the wake-up on with
  ``Store.wake(queue)``, an untargeted notification (every idle worker of the queue looks, as
  before): one round trip more than an idle choice, never a lost wake-up;
- the chosen worker is dead but still in the others' lists: nobody claims at once. The run is
  taken by the next claim of any worker of the queue (the next enqueue's chosen worker claims the
  oldest due runs first), and at the latest at the poll (``polling_interval``, the safety net). A
  worker leaves the lists once its heartbeat row says stopped or dead, or is older than
  ``stale_after`` behind the freshest row (relative, so clocks need not agree);
- lists differ between workers (a worker just started): the top-ranked live worker ranks itself
  first in any list that holds it, so someone claims; a stale list costs at most an extra claim;
- the membership is re-read every ``REFRESH_SECONDS`` (one ``list_workers`` read per worker); a
  worker that knows no peers yet claims (untargeted). A worker that just started reads it again
  after ``FIRST_REFRESH_SECONDS``, doubling up to ``REFRESH_SECONDS`` (workers of a deployment
  start within seconds of each other, and the first one's list held only itself: for 10 s it
  claimed at every enqueue, 1.97 claims per job in bench/herd.py with 8 workers started 1 s
  before, 1.02 once settled), and a chosen worker whose claim came back empty (someone else
  took the runs: a list is stale) goes back to that first interval.

On PostgreSQL a run enqueued alone and due at once is not notified on the installation's
channel but on one of its ``WAKE_SHARDS`` (32) shard channels, the run's id modulo 32, and each
worker LISTENs only to the shards it ranks first for (the shard number as the token) among the
live workers of one of its queues (``owned_shards``; every shard while it knows no peers of a
queue). PostgreSQL still signals every listening backend at each NOTIFY, but only the chosen
worker's process is woken: the others used to wake, decode and rank on the two cores the chosen
one needed for its claim (bench/herd.py pickup p99 10.7 -> 7.6 ms, bench/README.md). A shard
notification is ranked by its shard, so a worker listening to it for another of its queues
drops it. The lists decide as above: a worker adopts a new list only once its listener follows
it (new shards LISTENed first), a worker missing from a list leaves its shards heard by the
others too (an extra claim at most, as above), and a new worker listens to every shard until it
has read its peers. Enqueues of several runs, retries and the rest notify every listener with
count and token as described above.

Due times are targeted the same way. ``Store.next_due`` names the earliest pending runs the
worker may claim (id, queue, due_in: ``UPCOMING_RUNS`` of them, read from the database, so every
worker sees the same ids, not a time computed locally), and each run's id is its token:

- at a run's due time the worker ranked first for it claims (one claim, at the due time; the
  claim takes every due run, so runs due together cost one claim while slots last);
- a worker ranked k-th after it looks again (one ``next_due`` read, no write) ``backup_delay(k)``
  after the due time (k * 50 ms, at most 500 ms) and claims only if that run is still pending:
  the chosen worker was busy (a worker without a free slot watches no timer) or is dead with a
  fresh heartbeat row. The next in rank looks first, so a run waits about 50 ms more per dead or
  busy worker ranked before the first idle one, never for the poll. The read also refreshes the
  worker's list of upcoming runs; a notification of a run due later is read only when it falls
  before the end of a full list (else the list is read again by then anyway);
- runs due at the same instant each have their own chosen worker; several may pick one worker,
  whose single claim takes them all while it has slots (the others' backups then find them
  taken);
- lists of peers that differ cost an extra claim at most, as for an enqueue;
- a fake clock that moves (tests), another process's commit on SQLite and a reconnected listener
  ("look again", no queue) make every idle worker read, not claim: then the chosen ones claim;
- while a cap or rate limit applies to the worker's queues or job types, ``next_due``'s time is
  not a run's (a window that reopens) and names no runs: every idle worker claims then, as before.
Retries, operator retries, rescues and released children due at once notify with count and
token like an enqueue (a retry due later re-arms the timers, then the above).

Measured (bench/herd.py --delay 2: 8 idle worker processes, 500 runs due 2 s after single
enqueues at 50/s): 7.45 claims per due run before (6.45 empty), 1.01 after, reads 7.45 -> 2.07
per run, server CPU per run halved; lateness (bench/lateness.py --workers 8) see bench/README.md.

Alternatives considered: a jittered claim with a short back-off for all but one (still one
claim per worker per job, only later: the back-off only helps if the others can tell the run was
taken, which costs a query each); a per-notification token row that the first claimer consumes
(one more write per job and still one round trip per woken worker); claiming with probability
count / idle workers (needs the number of idle workers, and loses wake-ups when all draw "no").
Rendezvous ranking costs no query per wake-up and keeps the pickup latency of the chosen worker.
For due times: a timer only in the worker ranked first by a token computed locally (the due
time: each worker derives it from its own clock and read, so they disagree by microseconds and
two workers may both think they are first, or none); the chosen worker NOTIFYing the others
after its claim (one more statement per run, and the NOTIFY reaches every backend anyway) instead
of their cheap reads; backups for every run at one fixed grace (every non-chosen worker claims
at once when the chosen one is dead: the herd again, only later).
Not targeted: on SQLite, wake-ups from another process's commit read first (the file tells that
something changed, not what; each then costs every idle worker one read); a resumed queue and
a raised limit (rare) wake every idle worker of the queue; a targeted enqueue whose chosen worker
is dead still waits for another claim or the poll (a backup read per enqueue would cost every
idle worker a read per job).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from zapjobs.models import DueRun, WorkerInfo

#: How often a worker re-reads which workers serve its queues.
REFRESH_SECONDS = 10.0
#: The first re-read after a start, or after a chosen claim came back empty; doubles from here.
FIRST_REFRESH_SECONDS = 0.5
#: How many of the earliest pending runs a worker reads with their ids (``Store.next_due``).
UPCOMING_RUNS = 8
#: A due run's backup: the worker ranked k-th after the chosen one looks k steps after the due
#: time (a read), and claims if the run is still pending; at most this long after it.
BACKUP_STEP_SECONDS = 0.05
BACKUP_MAX_SECONDS = 0.5


def rank(token: int, worker_id: str) -> bytes:
    """The same order in every process (Python's own hash() is salted per process)."""
    return hashlib.blake2b(f"{token}:{worker_id}".encode(), digest_size=8).digest()


def chosen(me: str, peers: Iterable[str], count: int, token: int) -> bool:
    """Whether ``me`` is among the ``count`` first of ``peers`` (and itself) by ``rank``."""
    return ahead(me, peers, token) < count


def ahead(me: str, peers: Iterable[str], token: int) -> int:
    """How many of ``peers`` (``me`` left out) rank before ``me`` for ``token``."""
    mine = rank(token, me)
    return sum(1 for worker in set(peers) if worker != me and rank(token, worker) < mine)


def owned_shards(
    me: str, queues: Iterable[str], known: Mapping[str, Iterable[str]], shards: int
) -> frozenset[int] | None:
    """The shard channels ``me`` listens to: those it ranks first for among the live workers of
    one of its ``queues`` (the shard number is the token); None (every shard) while it knows no
    peers of one of them, as a worker without a list claims at every wake-up."""
    owned: set[int] = set()
    for queue in queues:
        peers = known.get(queue)
        if not peers:
            return None
        owned.update(s for s in range(shards) if ahead(me, peers, s) == 0)
    return frozenset(owned)


def backup_delay(ahead: int) -> float:
    """How long after a run's due time a worker that was not chosen for it looks whether it was
    taken (and claims it if not): the next in rank first, each one step later, bounded."""
    return min(ahead * BACKUP_STEP_SECONDS, BACKUP_MAX_SECONDS)


def next_action(
    me: str, upcoming: Iterable[tuple[float, DueRun]], known: Mapping[str, Iterable[str]]
) -> tuple[float, bool, DueRun] | None:
    """The earliest thing ``me`` has to do for the ``upcoming`` runs (each with its due time on
    the caller's clock), given the live workers of each queue: (when, claim, run). ``claim``:
    chosen for the run, claim at its due time; else look again ``backup_delay`` after it
    whether it was taken."""
    best: tuple[float, bool, DueRun] | None = None
    for due_at, run in upcoming:
        behind = ahead(me, known.get(run.queue, ()), run.id)
        when = due_at + backup_delay(behind)
        if best is None or when < best[0]:
            best = (when, behind == 0, run)
    return best


def live_peers(workers: Sequence[WorkerInfo], stale_after: float) -> dict[str, frozenset[str]]:
    """Queue -> ids of the workers serving it that look alive: processing (concurrency > 0), not
    stopped, not dead, and seen within ``stale_after`` seconds of the most recently seen
    worker."""
    if not workers:
        return {}
    newest = max(w.last_seen_at for w in workers)
    by_queue: dict[str, set[str]] = {}
    for worker in workers:
        if worker.stopped_at is not None or worker.dead_at is not None:
            continue
        if worker.concurrency <= 0:  # a scheduler-only worker claims nothing
            continue
        if (newest - worker.last_seen_at).total_seconds() > stale_after:
            continue
        for queue in worker.queues:
            by_queue.setdefault(queue, set()).add(worker.id)
    return {queue: frozenset(ids) for queue, ids in by_queue.items()}
