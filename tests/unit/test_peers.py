"""Rendezvous ranking of workers for targeted wake-ups (runtime/peers.py): every process agrees
who claims a run, and the others' backup looks come one step apart, bounded."""

from __future__ import annotations

from datetime import timedelta

from zapjobs.models import DueRun
from zapjobs.runtime import peers

WORKERS = [f"host-{i}-{i * 7919 % 1000:03d}" for i in range(8)]


def test_exactly_one_worker_is_first_for_each_run_and_the_others_form_a_queue() -> None:
    for token in range(200):
        places = sorted(peers.ahead(w, WORKERS, token) for w in WORKERS)
        assert places == list(range(len(WORKERS))), token


def test_a_worker_missing_from_a_list_does_not_change_who_is_first_among_the_rest() -> None:
    for token in range(200):
        first = next(w for w in WORKERS if peers.ahead(w, WORKERS, token) == 0)
        others = [w for w in WORKERS if w != first]
        second = next(w for w in others if peers.ahead(w, others, token) == 0)
        assert peers.ahead(second, WORKERS, token) == 1, token


def test_backup_looks_come_one_step_apart_up_to_a_bound() -> None:
    step, bound = peers.BACKUP_STEP_SECONDS, peers.BACKUP_MAX_SECONDS
    assert peers.backup_delay(0) == 0.0
    assert peers.backup_delay(1) == step
    assert peers.backup_delay(3) == 3 * step
    assert peers.backup_delay(1000) == bound


def test_the_next_action_is_a_claim_at_the_due_time_for_the_chosen_worker_only() -> None:
    run = DueRun(id=41, queue="default", due_in=timedelta(seconds=2))
    known = {"default": WORKERS}
    actions = {w: peers.next_action(w, [(100.0, run)], known) for w in WORKERS}
    claims = [w for w, a in actions.items() if a is not None and a[1]]
    assert len(claims) == 1
    assert actions[claims[0]] == (100.0, True, run)
    for worker, action in actions.items():
        place = peers.ahead(worker, WORKERS, run.id)
        assert action == (100.0 + peers.backup_delay(place), place == 0, run)


def test_the_next_action_is_the_earliest_over_the_upcoming_runs() -> None:
    me = WORKERS[0]
    mine = next(i for i in range(1000) if peers.ahead(me, WORKERS, i) == 0)
    other = next(i for i in range(1000) if peers.ahead(me, WORKERS, i) == 7)
    first = DueRun(id=other, queue="default", due_in=timedelta(0))
    second = DueRun(id=mine, queue="default", due_in=timedelta(seconds=0.1))
    action = peers.next_action(me, [(10.0, first), (10.1, second)], {"default": WORKERS})
    assert action == (10.1, True, second)  # before the backup look for the first, at 10.35
    assert peers.next_action(me, [], {"default": WORKERS}) is None
    alone = peers.next_action(me, [(10.0, first)], {})  # no list yet: claim, as untargeted
    assert alone == (10.0, True, first)


# --- shard channels (a run enqueued alone on PostgreSQL) ---------------------------------------


def test_with_the_same_lists_each_shard_has_exactly_one_listener() -> None:
    known = {"default": frozenset(WORKERS)}
    owned = {w: peers.owned_shards(w, ["default"], known, 32) for w in WORKERS}
    for shard in range(32):
        assert sum(shard in (o or ()) for o in owned.values()) == 1, shard


def test_a_worker_knowing_no_peers_of_one_queue_listens_to_every_shard() -> None:
    known = {"default": frozenset(WORKERS)}
    assert peers.owned_shards(WORKERS[0], ["default", "mail"], known, 32) is None
    assert peers.owned_shards(WORKERS[0], ["default"], {}, 32) is None


def test_a_worker_listens_for_each_of_its_queues() -> None:
    """A shard channel is shared by the queues: listening for one queue's shard, a worker also
    hears the other queues' runs on it (and ranks them to see whether they are its own)."""
    known = {"a": frozenset(WORKERS), "b": frozenset(WORKERS[:1])}
    assert peers.owned_shards(WORKERS[0], ["a", "b"], known, 32) == frozenset(range(32))


def test_a_list_missing_a_worker_overlaps_instead_of_leaving_a_shard_unheard() -> None:
    """A worker that does not know of another yet keeps listening to the shards that one ranks
    first for (an extra claim at most); the other, knowing itself, listens to them too."""
    late = WORKERS[-1]
    full = frozenset(WORKERS)
    theirs = peers.owned_shards(late, ["default"], {"default": full}, 32) or frozenset()
    assert theirs
    for worker in WORKERS[:-1]:
        stale = peers.owned_shards(worker, ["default"], {"default": full - {late}}, 32)
        fresh = peers.owned_shards(worker, ["default"], {"default": full}, 32)
        assert stale is not None and fresh is not None
        assert fresh <= stale and stale - fresh <= theirs
