"""Workflows on top of ``enqueue(after=...)``: chains, groups with a callback, nested.

A workflow is a value (Step, Chain, Group) built without I/O; ZapJobs.chain() and
ZapJobs.group() wrap it with the app that enqueues it (WorkflowBuilder, awaitable). Each step is
one run; a step that follows others waits for them (``after=``) and, unless given an input,
reads it when it starts from what it waited for: the output of the one run before it, or the
list of the outputs of a group (in the group's order). The input is read at execution time from
the parents' stored outputs, so a crash or a rescue never loses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from zapjobs.errors import ValidationError
from zapjobs.models import InputFrom, ParentFailure

#: A job type as callers name it: its id, the @zap.job function, or the Job subclass (as
#: ZapJobs.enqueue takes it; ZapJobs uses this one alias).
JobRef = Union[str, Callable[..., Any]]  # noqa: UP007 (a runtime alias)


class _NoInput:
    """The input of a step that reads it from the runs it waits for."""

    _instance: _NoInput | None = None

    def __new__(cls) -> _NoInput:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FROM_PARENTS"


#: A step's input when none is given: its parents' output(s), read when it starts.
FROM_PARENTS = _NoInput()


@dataclass(frozen=True)
class Step:
    """One run of a workflow: a job and, optionally, its input, queue and priority."""

    job: JobRef
    input: Any = FROM_PARENTS
    queue: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class Chain:
    """Parts run one after the other: each waits for the one before."""

    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Group:
    """Parts run side by side (each waits for what the group waits for)."""

    parts: tuple[Part, ...]


Part = Union[Step, Chain, Group]  # noqa: UP007 (a runtime alias, before 3.12's "type")


@dataclass(frozen=True)
class Workflow:
    """What enqueueing a workflow made: every run id in enqueue order, and the runs a part
    added after it waits for (``tails``: the last step, or each branch's last of a group)."""

    run_ids: tuple[int, ...]
    tails: tuple[int, ...]
    fan_in: bool = False  # the tails are a group's: a following step reads a list

    @property
    def last(self) -> int:
        """The id of the last run enqueued (a chain's last step, a callback)."""
        return self.run_ids[-1]


#: What enqueues one step: (job, input, queue, priority, after, policy, input_from, connection)
#: -> run id.
EnqueueStep = Callable[
    [Any, Any, "str | None", int, tuple[int, ...], ParentFailure, "InputFrom | None", Any],
    Awaitable[int],
]


def as_part(value: Any) -> Part:
    """A part of a workflow: a Step, Chain, Group or builder, or a bare job (a Step without
    input)."""
    if isinstance(value, WorkflowBuilder):
        return value.spec
    if isinstance(value, Step | Chain | Group):
        return value
    if isinstance(value, tuple | list):
        raise ValidationError(
            "a workflow part is a step, a chain or a group, not a list",
            hint="use zap.group([...]) for parts that run side by side, or zap.step(job, input)",
        )
    return Step(value)


def parts_of(values: Sequence[Any], *, what: str) -> tuple[Part, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValidationError(f"{what} takes a list of steps, got {values!r}")
    if not values:
        raise ValidationError(f"{what} needs at least one step")
    return tuple(as_part(v) for v in values)


async def enqueue_part(
    part: Part,
    enqueue_step: EnqueueStep,
    *,
    after: tuple[int, ...] = (),
    fan_in: bool = False,
    policy: ParentFailure = ParentFailure.CANCEL,
    connection: Any = None,
) -> Workflow:
    """Enqueue a part after the runs ``after`` (a group's when ``fan_in``), depth first, in
    order: ids grow along the parts, so a group's outputs come in the group's order."""
    if isinstance(part, Step):
        source = None
        if part.input is FROM_PARENTS and after:
            source = InputFrom.PARENTS if fan_in else InputFrom.PARENT
        run_input = None if part.input is FROM_PARENTS else part.input
        run_id = await enqueue_step(
            part.job, run_input, part.queue, part.priority, after, policy, source, connection
        )
        return Workflow((run_id,), (run_id,))
    if isinstance(part, Chain):
        ids: list[int] = []
        tails, group_before = after, fan_in
        for child in part.parts:
            done = await enqueue_part(
                child,
                enqueue_step,
                after=tails,
                fan_in=group_before,
                policy=policy,
                connection=connection,
            )
            ids.extend(done.run_ids)
            tails, group_before = done.tails, done.fan_in
        return Workflow(tuple(ids), tails, group_before)
    ids, ends = [], list[int]()
    for child in part.parts:
        done = await enqueue_part(
            child, enqueue_step, after=after, fan_in=fan_in, policy=policy, connection=connection
        )
        ids.extend(done.run_ids)
        ends.extend(done.tails)
    return Workflow(tuple(ids), tuple(ends), fan_in=True)


@dataclass(frozen=True)
class WorkflowBuilder:
    """A workflow bound to the app that enqueues it: ``await`` it (or call ``enqueue()``) to
    enqueue it; ``then()`` adds a part after it."""

    spec: Part
    _enqueue_step: EnqueueStep = field(repr=False, compare=False)

    def then(self, part: Any) -> WorkflowBuilder:
        """This, then ``part`` (a callback after a group receives the list of its outputs)."""
        head = self.spec.parts if isinstance(self.spec, Chain) else (self.spec,)
        return WorkflowBuilder(Chain((*head, as_part(part))), self._enqueue_step)

    async def enqueue(
        self,
        *,
        after: Sequence[int] = (),
        on_parent_failure: ParentFailure | str = ParentFailure.CANCEL,
        connection: Any = None,
    ) -> Workflow:
        """Enqueue every run (the first ones after ``after``), one enqueue per step; with
        ``connection`` (your open PostgreSQL or SQLite connection) all of them in your
        transaction, so the workflow exists whole or not at all."""
        try:
            policy = ParentFailure(on_parent_failure)
        except ValueError:
            raise ValidationError(
                f"on_parent_failure must be 'cancel' or 'run', got {on_parent_failure!r}"
            ) from None
        return await enqueue_part(
            self.spec, self._enqueue_step, after=tuple(after), policy=policy, connection=connection
        )

    def __await__(self) -> Generator[Any, None, Workflow]:
        return self.enqueue().__await__()
