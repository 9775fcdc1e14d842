"""Conformance: a run keeps the trace context it was enqueued with (every store, every path)."""

from __future__ import annotations

from tests.stores.helpers import T0
from zapjobs.models import NewRun
from zapjobs.stores import Store

CONTEXT = (
    '{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", '
    '"tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}'
)
#: Text a store must keep as it is, whatever its bulk path escapes (COPY: backslash, tab).
ODD_CONTEXT = '{"traceparent": "00-\\\\x-01", "tracestate": "a=\\tb"}'


async def test_a_run_enqueued_without_a_trace_context_has_none(store: Store) -> None:
    [run_id] = await store.enqueue([NewRun("a")], now=T0)
    run = await store.get_run(run_id)
    assert run is not None
    assert run.trace_context is None


async def test_a_single_enqueue_keeps_the_trace_context(store: Store) -> None:
    [run_id] = await store.enqueue([NewRun("a", trace_context=CONTEXT)], now=T0)
    run = await store.get_run(run_id)
    assert run is not None
    assert run.trace_context == CONTEXT


async def test_a_batch_keeps_each_runs_trace_context(store: Store) -> None:
    news = [
        NewRun("a", trace_context=CONTEXT),
        NewRun("b"),
        NewRun("c", trace_context=ODD_CONTEXT),
    ]
    ids = await store.enqueue(news, now=T0)
    by_id = {r.id: r for r in await store.get_runs(ids)}
    assert [by_id[i].trace_context for i in ids] == [CONTEXT, None, ODD_CONTEXT]


async def test_a_big_batch_keeps_each_runs_trace_context(store: Store) -> None:
    """600 runs: PostgreSQL streams them with COPY (from 500 runs on)."""
    contexts = [CONTEXT, None, ODD_CONTEXT] * 200
    ids = await store.enqueue([NewRun("a", trace_context=c) for c in contexts], now=T0)
    by_id = {r.id: r for r in await store.get_runs(ids)}
    assert [by_id[i].trace_context for i in ids] == contexts


async def test_a_claimed_run_carries_its_trace_context(store: Store) -> None:
    """The worker reads the context off the claimed run to continue the trace."""
    await store.enqueue([NewRun("a", trace_context=CONTEXT)], now=T0)
    [claimed] = await store.claim("w1", ["default"], ["a"], 1, now=T0)
    assert claimed.trace_context == CONTEXT
