"""Plans scheduled on P identical machines (the model's sections 3.4 and 3.5).

`exact_schedule` minimises the makespan over all plans and all non-preemptive schedules by
branch and bound. Eliminations run one elemental per task, as the model's exact version
says. The search builds plan and schedule together: each step starts one available
operation on the machine that frees first, at the earliest time its operands and that
machine allow. Taken in the order of their start times in an optimal schedule, the tasks of
that schedule start no later this way, so the search is exact. It is pruned by two lower
bounds: the least remaining work spread over the machines, and the least critical path to
the end in which every product also waits for its operands' least work to be done on the
machines (`filled`), and by dominance: a state whose blocks are all ready and
machines all free no earlier than those of a state already searched is dropped. Without
eliminations it builds active schedules only (`_Search.soonest_accumulation`). Past the time
limit it returns the best schedule found,
with exact=False and the proven lower bound.

`dp_heuristic` is JCDP's dynamic-programming value with machines handed out recursively: an
upper bound for P >= 2, exact for P = 1."""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ..chain.elementals import ElementalChain
from ..cost.elimination import (
    OpKind,
    accumulation,
    adjoint_elimination,
    adjoint_fits,
    multiplication,
    tangent_elimination,
)
from .jcdp import ElementalPlan, solve

Block = tuple[int, int, int]  # first, last, ready time (-1: a raw elemental, not yet used)
# kind, first, last, cost, the blocks (or tasks) it consumes, the elemental it passes through
# (an elimination step) or the last elemental of its lower operand (a multiplication)
Move = tuple[OpKind, int, int, int, tuple[int, ...], int | None]
FINISHES_KEPT = 2**17  # least_finish_on's values kept at once (about 50 MB at most)
RAW = -1
ACCUMULATIONS = (OpKind.ACC_TAN, OpKind.ACC_ADJ)


@dataclass(frozen=True)
class Task:
    """One operation of a schedule: what it makes ([first..last]), on which machine, when."""

    kind: OpKind
    first: int
    last: int
    cost: int
    machine: int
    start: int
    end: int
    through: int | None = None  # the elemental an elimination step passes through
    split: int | None = None  # a multiplication's last elemental of the lower operand

    def operands(self) -> list[tuple[int, int]]:
        """The explicit segments this task consumes: none for an accumulation, both halves
        for a multiplication, the segment one elemental shorter for an elimination step."""
        if self.kind in (OpKind.ACC_TAN, OpKind.ACC_ADJ):
            return []
        if self.kind == OpKind.MULTIPLY:
            assert self.split is not None
            return [(self.first, self.split), (self.split + 1, self.last)]
        if self.kind == OpKind.TAN_ELIM:
            return [(self.first, self.last - 1)]
        return [(self.first + 1, self.last)]


@dataclass(frozen=True)
class Schedule:
    machines: int
    tasks: tuple[Task, ...]
    exact: bool
    lower_bound: int

    @property
    def makespan(self) -> int:
        return max((task.end for task in self.tasks), default=0)

    @property
    def work(self) -> int:
        return sum(task.cost for task in self.tasks)


def _task(kind: OpKind, first: int, last: int, cost: int, machine: int, begin: int, detail: int | None) -> Task:
    split, through = (detail, None) if kind == OpKind.MULTIPLY else (None, detail)
    return Task(kind, first, last, cost, machine, begin, begin + cost, through, split)


def _shape(blocks: tuple[Block, ...]) -> tuple[tuple[int, int, bool], ...]:
    """Blocks without their times: (first, last, explicit)."""
    return tuple((first, last, ready != RAW) for first, last, ready in blocks)


class _Search:
    def __init__(self, chain: ElementalChain, machines: int, matrix_free: bool, memory: int | None) -> None:
        self.chain, self.machines, self.matrix_free, self.memory = chain, machines, matrix_free, memory
        e = self.e = chain.elementals
        self.leaf = [accumulation(x, memory) for x in e]
        q, tangent, adjoint = len(e), chain.prefix("tangent_cost"), chain.prefix("adjoint_cost")
        # The operations' costs by (i, k, j), priced once (cost/elimination.py): the product of
        # [k+1..j] and [i..k], [i..k] pushed through k+1..j, [k+1..j] pulled through i..k.
        self.product = [
            [[multiplication(e[j].outputs, e[k].outputs, e[i].inputs) for j in range(q)] for k in range(q)]
            for i in range(q)
        ]
        self.tangent = [
            [[tangent_elimination(e[i].inputs, tangent[j + 1] - tangent[k + 1]) for j in range(q)] for k in range(q)]
            for i in range(q)
        ]
        self.adjoint = [
            [[adjoint_elimination(e[j].outputs, adjoint[k + 1] - adjoint[i]) for j in range(q)] for k in range(q)]
            for i in range(q)
        ]
        refused = [0]
        for x in e:
            refused.append(refused[-1] + (not adjoint_fits(x.tape, memory)))
        self.refused = refused  # elementals whose tape does not fit, as prefix counts
        self.finishes: dict[Any, int] = {}  # least_finish_on, by times relative to the first free
        self.shapes: dict[Any, Any] = {}  # one copy of each shape, for all the keys of `finishes`

    def moves(self, blocks: tuple[Block, ...]) -> list[Move]:
        """Every operation the state allows, consuming block indices."""
        e, found = self.e, list[Move]()
        for index, (first, last, ready) in enumerate(blocks):
            if ready == RAW:
                kind, cost = self.leaf[first]
                found.append((kind, first, last, cost, (index,), None))
        for index in range(len(blocks) - 1):
            (i, k, lower_ready), (_, j, upper_ready) = blocks[index], blocks[index + 1]
            if lower_ready != RAW and upper_ready != RAW:
                cost = multiplication(e[j].outputs, e[k].outputs, e[i].inputs)
                found.append((OpKind.MULTIPLY, i, j, cost, (index, index + 1), k))
            if not self.matrix_free:
                continue
            if lower_ready != RAW and upper_ready == RAW:
                cost = tangent_elimination(e[i].inputs, e[j].tangent_cost)
                found.append((OpKind.TAN_ELIM, i, j, cost, (index, index + 1), j))
            if lower_ready == RAW and upper_ready != RAW and adjoint_fits(e[i].tape, self.memory):
                cost = adjoint_elimination(e[j].outputs, e[i].adjoint_cost)
                found.append((OpKind.ADJ_ELIM, i, j, cost, (index, index + 1), i))
        return found

    def soonest_accumulation(self, moves: list[Move], free: int) -> float:
        """Without eliminations every raw elemental is accumulated in every completion, so
        the search need only build active schedules: no task starts at or after the time an
        available accumulation could finish (that accumulation fits in the idle gap before
        it on the same machine, making nothing later). With eliminations an accumulation is
        optional and the argument fails (a raw elemental may be passed through instead)."""
        if self.matrix_free:
            return float("inf")
        return min((free + move[3] for move in moves if move[0] in ACCUMULATIONS), default=float("inf"))

    @cache  # noqa: B019  (one search object per call; freed with it)
    def work_table(self, shape: tuple[tuple[int, int, bool], ...]) -> list[list[int]]:
        """Least total cost to finish each run of blocks lo..hi (first, last, explicit)."""
        return self._table(shape, None)

    def least_work(self, shape: tuple[tuple[int, int, bool], ...]) -> int:
        """Least total cost to finish from blocks (first, last, explicit), with unlimited time."""
        return self.work_table(shape)[0][-1]

    def least_finish(self, blocks: tuple[Block, ...], earliest: int) -> int:
        """Least finishing time with unlimited machines, no operation starting before
        `earliest` (the first free machine)."""
        return self._table(_shape(blocks), (blocks, earliest, None))[0][-1]

    def least_finish_on(self, blocks: tuple[Block, ...], free: tuple[int, ...]) -> int:
        """Least finishing time on the search's machines, free at `free` (sorted): as
        least_finish, and a multiplication starts no sooner than the least work of both its
        operands could be done on the machines after their free times (`filled`):
        everything below a product is done before it starts. Nothing starts before the first
        machine frees, so a block ready sooner counts as ready then; and the value moves with
        every time by the same shift, so it is kept by the times relative to that first
        (states reached by other orders of the same tasks share it)."""
        earliest = free[0]
        shape = _shape(blocks)
        shape = self.shapes.setdefault(shape, shape)  # one copy of a shape in all the keys
        key = (
            shape,
            tuple(max(ready, earliest) - earliest for _, _, ready in blocks if ready != RAW),
            tuple(at - earliest for at in free),
        )
        relative = self.finishes.get(key)
        if relative is None:
            ready = tuple((first, last, at if at == RAW else max(at, earliest)) for first, last, at in blocks)
            sharing = (filled(free), self.work_table(shape))
            relative = self._table(shape, (ready, earliest, sharing))[0][-1] - earliest
            if len(self.finishes) >= FINISHES_KEPT:
                self.finishes.clear()
            self.finishes[key] = relative
        return relative + earliest

    def _table(self, shape: tuple[tuple[int, int, bool], ...], timing: Any) -> list[list[int]]:
        """The sequential DP of section 3.6 over blocks (explicit blocks are leaves that cannot
        be passed through), every run lo..hi of them; with `timing` (blocks, earliest, sharing),
        multiplication takes the max of its operands (the unlimited-machine critical path) and
        leaves start at their ready time, and with `sharing` (`filled` for the machines' free
        times, the work table) a product waits for its operands' least work over the machines."""
        b, leaf, refused = len(shape), self.leaf, self.refused
        product, tangent, adjoint, matrix_free = self.product, self.tangent, self.adjoint, self.matrix_free
        explicit = [0]  # prefix counts of explicit blocks
        for _, _, made in shape:
            explicit.append(explicit[-1] + made)
        blocks, earliest, sharing = (None, 0, None) if timing is None else timing
        if sharing is not None:
            done_by, work = sharing
        best = [[0] * b for _ in range(b)]
        for index, (first, _, made) in enumerate(shape):
            if blocks is None:
                best[index][index] = 0 if made else leaf[first][1]
            else:
                best[index][index] = blocks[index][2] if made else earliest + leaf[first][1]
        for length in range(2, b + 1):
            for lo in range(b - length + 1):
                hi = lo + length - 1
                i, j = shape[lo][0], shape[hi][1]
                row, products, tangents, adjoints = best[lo], product[i], tangent[i], adjoint[i]
                least = None
                for cut in range(lo, hi):
                    k = shape[cut][1]
                    lower, upper = row[cut], best[cut + 1][hi]
                    if timing is None:
                        ready = lower + upper
                    else:
                        ready = lower if lower > upper else upper
                        if sharing is not None:
                            both = work[lo][cut] + work[cut + 1][hi]
                            if ready < earliest + both:  # else one machine alone is done by then
                                done = done_by(both)
                                if done > ready:
                                    ready = done
                    option = products[k][j] + ready
                    if least is None or option < least:
                        least = option
                    if not matrix_free:
                        continue
                    if explicit[hi + 1] == explicit[cut + 1]:
                        option = lower + tangents[k][j]
                        if option < least:
                            least = option
                    if explicit[cut + 1] == explicit[lo] and refused[k + 1] == refused[i]:
                        option = upper + adjoints[k][j]
                        if option < least:
                            least = option
                assert least is not None
                row[hi] = least
        return best

    def bound(self, blocks: tuple[Block, ...], free: tuple[int, ...]) -> int:
        """A lower bound on the makespan from this state: the least work over the machines,
        or the least finish on them (least_finish_on), whichever is larger."""
        shape = _shape(blocks)
        if len(blocks) == 1:
            return blocks[0][2]
        spread = -(-(sum(free) + self.least_work(shape)) // self.machines)
        return max(spread, self.least_finish_on(blocks, free))


def filled(free: tuple[int, ...]) -> Callable[[int], int]:
    """The least time by which machines free at `free` (sorted) can have done `work` units
    between them (work split at will, integer times): the least t with the sum over machines
    of max(0, t - free[m]) >= work, which fills the earliest machines first.

    >>> done_by = filled((0, 10))
    >>> done_by(4), done_by(10), done_by(12)  # one machine until 10, then both
    (4, 10, 11)
    """
    prefix = list(itertools.accumulate(free))
    # the work the first p machines do before machine p + 1 frees: past it, p + 1 share it
    room = [p * free[p] - prefix[p - 1] for p in range(1, len(free))]

    def done_by(work: int) -> int:
        p = bisect.bisect_left(room, work) + 1  # machines sharing the work
        return -(-(prefix[p - 1] + work) // p)

    return done_by


def exact_schedule(
    chain: ElementalChain,
    machines: int,
    matrix_free: bool = True,
    memory: int | None = None,
    time_limit: float = 10.0,
    start: Schedule | None = None,
) -> Schedule:
    """The least makespan on `machines` identical machines over all plans and schedules
    (module doc); `start` is a schedule to beat (e.g. the sequential optimum list-scheduled)."""
    search = _Search(chain, machines, matrix_free, memory)
    blocks: tuple[Block, ...] = tuple((index, index, RAW) for index in range(len(chain)))
    free = (0,) * machines
    root_bound = search.bound(blocks, free)
    best = start if start is not None else list_schedule(chain, _first_plan(chain, matrix_free, memory), machines)
    best_tasks, best_span = list(best.tasks), best.makespan
    deadline = time.perf_counter() + time_limit
    # States already reached, by their blocks' shape: the times at which each explicit block is
    # ready (none earlier than the first free machine: nothing starts before it) and the
    # machines free. A state no earlier anywhere than one reached already can do no better.
    # Kept as one array a shape (rows: the states not dominated so far), compared all at once:
    # a shape's front grows to thousands. Every time in a state searched is below the start's
    # makespan, so int64 holds them unless that is beyond it (then Python's integers).
    seen: dict[tuple[tuple[int, int, bool], ...], npt.NDArray[Any]] = {}
    dtype = np.int64 if best_span < 2**62 else object

    def dominated(blocks: tuple[Block, ...], free: tuple[int, ...]) -> bool:
        times = np.array((*(max(ready, free[0]) for _, _, ready in blocks if ready != RAW), *free), dtype=dtype)
        shape = _shape(blocks)
        reached = seen.get(shape)
        if reached is None:
            seen[shape] = times[np.newaxis]
            return False
        if (reached <= times).all(axis=1).any():
            return True
        seen[shape] = np.vstack((reached[~(times <= reached).all(axis=1)], times))
        return False

    timed_out = False
    path: list[Task] = []

    def descend(blocks: tuple[Block, ...], free: tuple[int, ...]) -> None:
        nonlocal best_tasks, best_span, timed_out
        if len(blocks) == 1 and blocks[0][2] != RAW:
            if blocks[0][2] < best_span:
                best_span, best_tasks = blocks[0][2], list(path)
            return
        if timed_out or time.perf_counter() > deadline:
            timed_out = True
            return
        if dominated(blocks, free):
            return
        children = []
        moves = search.moves(blocks)
        soonest = search.soonest_accumulation(moves, free[0])
        for kind, first, last, cost, used, detail in moves:
            begin = max(free[0], *(blocks[index][2] for index in used))
            end = begin + cost
            if begin >= soonest and end != soonest:
                continue
            merged = (*blocks[: used[0]], (first, last, end), *blocks[used[-1] + 1 :])
            later = tuple(sorted((*free[1:], end)))
            bound = search.bound(merged, later)
            if bound < best_span:
                task = _task(kind, first, last, cost, 0, begin, detail)
                children.append((bound, end, task, merged, later))
        children.sort(key=lambda child: (child[0], child[1]))
        for bound, _, task, merged, later in children:
            if bound >= best_span:
                break
            path.append(task)
            descend(merged, later)
            path.pop()

    if root_bound < best_span:
        descend(blocks, free)
    exact = not timed_out
    return Schedule(machines, _assign(best_tasks, machines), exact, best_span if exact else root_bound)


def _machine_for(free: list[int], start: int) -> int:
    """Of the machines free by `start`, the one that freed last (it most likely made the
    task's operand, so a chain of steps stays on one machine); else the first to free. Any
    machine free by `start` keeps every later start feasible: the free times left are never
    later than those the search assumed."""
    ready = [index for index in range(len(free)) if free[index] <= start]
    if ready:
        return max(ready, key=lambda index: (free[index], -index))
    return min(range(len(free)), key=lambda index: (free[index], index))


def _assign(tasks: list[Task], machines: int) -> tuple[Task, ...]:
    """Give each task (in decision order) a machine free by its start (_machine_for)."""
    free = [0] * machines
    placed = []
    for task in tasks:
        machine = _machine_for(free, task.start)
        assert free[machine] <= task.start
        free[machine] = task.end
        placed.append(replace(task, machine=machine))
    return tuple(sorted(placed, key=lambda task: (task.start, task.machine)))


def _first_plan(chain: ElementalChain, matrix_free: bool, memory: int | None) -> ElementalPlan:
    return solve(chain, matrix_free, memory)


def steps(
    plan: ElementalPlan, chain: ElementalChain
) -> list[tuple[OpKind, int, int, int, tuple[int, ...], int | None]]:
    """The plan's operations with every elimination split into one task per elemental:
    (kind, first, last, cost, operand task indices, elemental passed through)."""
    e = chain.elementals
    tasks: list[Move] = []
    result_of: list[int] = []
    for op in plan.operations:
        operands = tuple(result_of[index] for index in op.operands)
        if op.kind in (OpKind.TAN_ELIM, OpKind.ADJ_ELIM):
            assert op.through is not None
            (low, high), previous = op.through, operands[0]
            order = range(low, high + 1) if op.kind == OpKind.TAN_ELIM else range(high, low - 1, -1)
            first, last = (op.first, low - 1) if op.kind == OpKind.TAN_ELIM else (high + 1, op.last)
            for index in order:
                if op.kind == OpKind.TAN_ELIM:
                    last, cost = index, tangent_elimination(e[op.first].inputs, e[index].tangent_cost)
                else:
                    first, cost = index, adjoint_elimination(e[op.last].outputs, e[index].adjoint_cost)
                tasks.append((op.kind, first, last, cost, (previous,), index))
                previous = len(tasks) - 1
        else:
            tasks.append((op.kind, op.first, op.last, op.cost, operands, op.split))
        result_of.append(len(tasks) - 1)
    return tasks


def list_schedule(chain: ElementalChain, plan: ElementalPlan, machines: int) -> Schedule:
    """The plan's tasks in plan order, each on the machine that frees first (a feasible
    schedule, not an optimal one)."""
    free = [0] * machines
    ends: list[int] = []
    placed = []
    for kind, first, last, cost, operands, through in steps(plan, chain):
        begin = max([min(free), *(ends[index] for index in operands)])
        machine = _machine_for(free, begin)
        ends.append(begin + cost)
        free[machine] = begin + cost
        placed.append(_task(kind, first, last, cost, machine, begin, through))
    return Schedule(machines, tuple(placed), False, 0)


def root_bound(chain: ElementalChain, machines: int, matrix_free: bool = True, memory: int | None = None) -> int:
    """A lower bound on any plan's makespan: the least work over the machines, or the least
    finish on them (the least critical path, each product waiting for its operands' least work
    over the machines), whichever is larger."""
    search = _Search(chain, machines, matrix_free, memory)
    return search.bound(tuple((index, index, RAW) for index in range(len(chain))), (0,) * machines)


def critical_path(chain: ElementalChain, matrix_free: bool = True, memory: int | None = None) -> int:
    """The least critical path over all plans: the makespan with unlimited machines."""
    search = _Search(chain, 1, matrix_free, memory)
    return search.least_finish(tuple((index, index, RAW) for index in range(len(chain))), 0)


Choice = tuple[str, int, int]  # ("leaf" | "together" | "apart" | "tan" | "adj", split k, machines s)


def _heuristic_tables(
    chain: ElementalChain, machines: int, matrix_free: bool, memory: int | None
) -> tuple[dict[tuple[int, int, int], int], dict[tuple[int, int, int], Choice], int]:
    """C_t(i..j) of section 3.5 for t = 1..min(P, q), with the choice behind each value."""
    q = len(chain)
    threads = min(machines, q)
    e = chain.elementals
    tangent, adjoint, tape = chain.prefix("tangent_cost"), chain.prefix("adjoint_cost"), chain.prefix("tape")
    leaf = [accumulation(x, memory)[1] for x in e]
    cost: dict[tuple[int, int, int], int] = {}
    choice: dict[tuple[int, int, int], Choice] = {}
    for t in range(1, threads + 1):
        for index in range(q):
            cost[t, index, index], choice[t, index, index] = leaf[index], ("leaf", index, 0)
    for length in range(2, q + 1):
        for i in range(q - length + 1):
            j = i + length - 1
            for t in range(1, threads + 1):
                best: tuple[int, Choice] | None = None
                for k in range(i, j):
                    product = multiplication(e[j].outputs, e[k].outputs, e[i].inputs)
                    options: list[tuple[int, Choice]] = [
                        (product + cost[t, k + 1, j] + cost[t, i, k], ("together", k, 0))
                    ]
                    options += [
                        (product + max(cost[s, k + 1, j], cost[t - s, i, k]), ("apart", k, s)) for s in range(1, t)
                    ]
                    if matrix_free:
                        through = tangent_elimination(e[i].inputs, tangent[j + 1] - tangent[k + 1])
                        options.append((cost[t, i, k] + through, ("tan", k, 0)))
                        if adjoint_fits(tape[k + 1] - tape[i], memory):
                            back = adjoint_elimination(e[j].outputs, adjoint[k + 1] - adjoint[i])
                            options.append((cost[t, k + 1, j] + back, ("adj", k, 0)))
                    for option in options:
                        if best is None or option[0] < best[0]:
                            best = option
                assert best is not None
                cost[t, i, j], choice[t, i, j] = best
    return cost, choice, threads


def dp_heuristic(chain: ElementalChain, machines: int, matrix_free: bool = True, memory: int | None = None) -> int:
    """JCDP's DynamicProgrammingOptimizer value with `machines` threads (section 3.5)."""
    cost, _, threads = _heuristic_tables(chain, machines, matrix_free, memory)
    return cost[threads, 0, len(chain) - 1]


def heuristic_schedule(
    chain: ElementalChain, machines: int, matrix_free: bool = True, memory: int | None = None
) -> Schedule:
    """The schedule JCDP's DP heuristic describes: operands of a product either one after the
    other on all its machines or side by side on two groups, eliminations after their operand
    on the group's first machine. Its makespan is the heuristic's value."""
    cost, choice, threads = _heuristic_tables(chain, machines, matrix_free, memory)
    e, leaves = chain.elementals, [accumulation(x, memory) for x in chain.elementals]
    tasks: list[Task] = []

    def place(t: int, i: int, j: int, group: list[int], begin: int) -> int:
        kind, k, s = choice[t, i, j]
        if kind == "leaf":
            mode, duration = leaves[i]
            tasks.append(Task(mode, i, i, duration, group[0], begin, begin + duration))
            return begin + duration
        if kind in ("together", "apart"):
            if kind == "together":
                middle = place(t, k + 1, j, group, begin)
                ready = place(t, i, k, group, middle)
            else:
                ready = max(place(s, k + 1, j, group[:s], begin), place(t - s, i, k, group[s:t], begin))
            duration = multiplication(e[j].outputs, e[k].outputs, e[i].inputs)
            tasks.append(Task(OpKind.MULTIPLY, i, j, duration, group[0], ready, ready + duration, split=k))
            return ready + duration
        if kind == "tan":
            clock = place(t, i, k, group, begin)
            for index in range(k + 1, j + 1):
                duration = tangent_elimination(e[i].inputs, e[index].tangent_cost)
                tasks.append(Task(OpKind.TAN_ELIM, i, index, duration, group[0], clock, clock + duration, index))
                clock += duration
            return clock
        clock = place(t, k + 1, j, group, begin)
        for index in range(k, i - 1, -1):
            duration = adjoint_elimination(e[j].outputs, e[index].adjoint_cost)
            tasks.append(Task(OpKind.ADJ_ELIM, index, j, duration, group[0], clock, clock + duration, index))
            clock += duration
        return clock

    end = place(threads, 0, len(chain) - 1, list(range(threads)), 0)
    assert end == cost[threads, 0, len(chain) - 1]
    return Schedule(machines, tuple(sorted(tasks, key=lambda task: (task.start, task.machine))), False, 0)
