"""Rendezvous ranking of workers for targeted wake-ups (runtime/peers.py): every process agrees
who claims a run, and the others' backup looks come one step apart, bounded."""

from __future__ import annotations

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
