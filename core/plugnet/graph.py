"""The wiring of a graph model: which values each layer reads, and the order they run in.

A model's values are its inputs and its layers' outputs, each known by its name. Each layer
reads one or more of them (by default the layer listed before it, or for the first layer the
model's first input). :func:`wire` checks that every name read exists, that no layer depends on
itself, that every input is read and that exactly one layer (the output) is read by none, and
orders the layers so that each runs after what it reads: a topological order, which keeps the
listed order wherever that is already one (so a chain runs as listed).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Wiring:
    """A checked graph. Slots number the values: the inputs are ``0 .. k-1`` and layer ``i``
    (in the listed order) is slot ``k + i``."""

    input_names: tuple[str, ...]
    layer_names: tuple[str, ...]
    reads: tuple[tuple[str, ...], ...]  # per layer, in the listed order
    sources: tuple[tuple[int, ...], ...]  # the slots each layer reads
    order: tuple[int, ...]  # layer indices, each after every layer it reads
    output: int  # the layer no other layer reads

    @property
    def is_chain(self) -> bool:
        """Whether each layer reads only the one listed before it (the first: the input)."""
        return len(self.input_names) == 1 and all(src == (i,) for i, src in enumerate(self.sources))

    def readers(self, slot: int) -> list[int]:
        """The layers (indices) that read the value in ``slot``."""
        return [i for i, src in enumerate(self.sources) if slot in src]


def checked_names(value: Any, what: str) -> tuple[str, ...]:
    """A non-empty list of non-empty, distinct strings, or a ValueError naming ``what``."""
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(n, str) and n for n in value)
    ):
        raise ValueError(f"{what} must be a non-empty list of names (strings), got {value!r}")
    return tuple(value)


def wire(
    input_names: Sequence[str],
    layer_names: Sequence[str],
    reads: Sequence[Sequence[str] | None],
) -> Wiring:
    """Check and order a graph; ``reads[i]`` is None for the default (the previous layer).

    Raises ValueError naming the layers: a name read that is neither an input nor a layer, a
    cycle, an input no layer reads, or more than one layer that no other reads.
    """
    inputs = checked_names(input_names, "a model's inputs")
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"the model's inputs {list(inputs)} name one input twice")
    names = tuple(layer_names)
    clash = sorted(set(inputs) & set(names))
    if clash:
        raise ValueError(
            f"{', '.join(map(repr, clash))} names both a model input and a layer; every value "
            f"in a model needs its own name"
        )
    known = {*inputs, *names}
    resolved: list[tuple[str, ...]] = []
    for index, (name, read) in enumerate(zip(names, reads, strict=True)):
        if read is None:
            resolved.append((inputs[0],) if index == 0 else (names[index - 1],))
            continue
        given = checked_names(read, f"layer {name!r}'s inputs")
        for source in given:
            if source not in known:
                raise ValueError(
                    f"layer {name!r} reads {source!r}, which is neither an input of the model "
                    f"({_listed(inputs)}) nor a layer; the layers are {_listed(names)}"
                )
        resolved.append(given)
    slot = {n: i for i, n in enumerate((*inputs, *names))}
    sources = tuple(tuple(slot[s] for s in read) for read in resolved)
    order = _topological_order(names, sources, len(inputs))
    for index, name in enumerate(inputs):
        if not any(index in src for src in sources):
            raise ValueError(
                f"the model's input {name!r} is read by no layer; name it in a layer's inputs "
                f"or remove it from the model's inputs"
            )
    read_by_some = {s - len(inputs) for src in sources for s in src if s >= len(inputs)}
    sinks = [i for i in range(len(names)) if i not in read_by_some]
    if len(sinks) != 1:
        raise ValueError(
            f"the layers {_listed([names[i] for i in sinks])} are read by no other layer, "
            f"but a model has one output: name each of the others in a later layer's inputs "
            f"(merge them with add or concatenate), or remove it"
        )
    return Wiring(inputs, names, tuple(resolved), sources, order, sinks[0])


def _topological_order(
    names: Sequence[str], sources: Sequence[tuple[int, ...]], inputs: int
) -> tuple[int, ...]:
    """Kahn's algorithm, taking the lowest listed index among the ready layers so that a
    listed order that is already topological is kept. Raises ValueError naming a cycle."""
    waiting = [len({s for s in src if s >= inputs}) for src in sources]
    readers: list[list[int]] = [[] for _ in names]
    for index, src in enumerate(sources):
        for s in set(src):
            if s >= inputs:
                readers[s - inputs].append(index)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for reader in readers[index]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) < len(names):
        cycle = _a_cycle({i for i, count in enumerate(waiting) if count}, sources, inputs)
        raise ValueError(
            f"the layers form a cycle: {_described(cycle, names)}; a layer cannot depend on "
            f"its own output"
        )
    return tuple(order)


def _a_cycle(stuck: set[int], sources: Sequence[tuple[int, ...]], inputs: int) -> list[int]:
    """One cycle among ``stuck``, the layers Kahn's algorithm never freed: each of them reads
    another stuck layer, so following those reads must come back to a layer already seen."""
    start = min(stuck)
    path, seen = [start], {start: 0}
    while True:
        here = path[-1]
        upstream = next(s - inputs for s in sources[here] if s >= inputs and s - inputs in stuck)
        if upstream in seen:
            cycle = path[seen[upstream] :][::-1]
            first = cycle.index(min(cycle))  # from the first listed layer, for a stable message
            return cycle[first:] + cycle[:first]
        seen[upstream] = len(path)
        path.append(upstream)


def _described(cycle: list[int], names: Sequence[str]) -> str:
    """``'a' reads 'b', 'b' reads 'a'`` for a cycle listed in reading order."""
    pairs = zip(cycle, [*cycle[1:], cycle[0]], strict=True)
    return ", ".join(f"{names[reader]!r} reads {names[read]!r}" for read, reader in pairs)


def _listed(names: Sequence[str], limit: int = 12) -> str:
    """Names for a message, the first ``limit`` of a long list (a hostile file's may be huge)."""
    shown = ", ".join(map(repr, names[:limit]))
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
