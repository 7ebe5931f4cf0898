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
RECIPE_CUTS_KEPT = 2**19  # the DP recipes' cuts kept at once (about 25 bytes each, cells and work tables)
RAW = -1
# A cut of a run [i..j] at k: (cell of [i..k], cell of [k+1..j], product cost, tangent cost or
# None, adjoint cost or None), the cell of [i..j] being i * q + j in a flat table.
Cut = tuple[int, int, int, int | None, int | None]
Cell = tuple[int, tuple[Cut, ...]]  # a run of blocks: its cell and its cuts
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


def _key(blocks: tuple[Block, ...]) -> tuple[tuple[int, int, bool], ...]:
    """Blocks without their times: (first, last, explicit)."""
    return tuple((first, last, ready != RAW) for first, last, ready in blocks)


class _Shape:
    """A state's blocks without their times, interned by the search (one object a shape, so
    dictionaries keyed by it hash its identity): what depends on the shape alone is worked out
    once and kept on it. `moves`: every operation it allows; `after`: the shape each move
    leads to; `cells` and `work`: the DP's recipe and its least work per cell
    (`_Search.recipe`; dropped when too many are kept), `least_work` the whole's (kept)."""

    __slots__ = ("after", "cells", "key", "least_work", "moves", "origin", "work")

    def __init__(self, key: tuple[tuple[int, int, bool], ...], moves: list[Move]) -> None:
        self.key, self.moves = key, moves
        self.after: list[_Shape | None] = [None] * len(moves)
        self.least_work: int | None = None
        self.cells: list[Cell] | None = None
        self.work: list[int] = []
        self.origin: tuple[_Shape, int] | None = None  # a shape one move before, the block made


class _Search:
    def __init__(self, chain: ElementalChain, machines: int, matrix_free: bool, memory: int | None) -> None:
        self.chain, self.machines, self.matrix_free, self.memory = chain, machines, matrix_free, memory
        e = self.e = chain.elementals
        self.leaf = [accumulation(x, memory) for x in e]
        q, tangent, adjoint = len(e), chain.prefix("tangent_cost"), chain.prefix("adjoint_cost")
        refused = [0]
        for x in e:
            refused.append(refused[-1] + (not adjoint_fits(x.tape, memory)))
        self.refused = refused  # elementals whose tape does not fit, as prefix counts
        # Each cut of a run [i..j] at k as a recipe holds it, priced once (cost/elimination.py):
        # the product of [k+1..j] and [i..k], [i..k] pushed through k+1..j, [k+1..j] pulled
        # through i..k; by (i, j, k) and what the shape allows there: index 2 * (tangent
        # elimination allowed) + (adjoint elimination allowed), neither without matrix-free
        # operations. Shared by every shape's recipe.
        self.cuts: list[list[list[tuple[Cut, ...]]]] = [[[()] * q for _ in range(q)] for _ in range(q)]
        for i, j in itertools.combinations(range(q), 2):
            for k in range(i, j):
                cut = (i * q + k, (k + 1) * q + j, multiplication(e[j].outputs, e[k].outputs, e[i].inputs))
                product_only = (*cut, None, None)
                if not matrix_free:
                    self.cuts[i][j][k] = (product_only,) * 4
                    continue
                tan = tangent_elimination(e[i].inputs, tangent[j + 1] - tangent[k + 1])
                adj = adjoint_elimination(e[j].outputs, adjoint[k + 1] - adjoint[i])
                self.cuts[i][j][k] = (product_only, (*cut, None, adj), (*cut, tan, None), (*cut, tan, adj))
        self.shapes: dict[tuple[tuple[int, int, bool], ...], _Shape] = {}
        # The shapes holding their recipe's cells, least recently used first, with their cuts'
        # number: the oldest drop their cells past RECIPE_CUTS_KEPT cuts in all.
        self.with_cells: dict[_Shape, int] = {}
        self.cuts_kept = 0
        self.finishes: dict[Any, int] = {}  # least_finish_on, by times relative to the first free

    def shape(self, blocks: tuple[Block, ...]) -> _Shape:
        """The interned shape of these blocks."""
        key = _key(blocks)
        shape = self.shapes.get(key)
        if shape is None:
            shape = self.shapes[key] = _Shape(key, self._moves(blocks))
        return shape

    def after(self, shape: _Shape, index: int, blocks: tuple[Block, ...]) -> _Shape:
        """The shape that `shape`'s move `index` leads to (the blocks after it)."""
        found = shape.after[index]
        if found is None:
            found = shape.after[index] = self.shape(blocks)
            if found.origin is None:
                found.origin = (shape, shape.moves[index][4][0])
        return found

    def _moves(self, blocks: tuple[Block, ...]) -> list[Move]:
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

    def recipe(self, shape: _Shape) -> list[Cell]:
        """The sequential DP of section 3.6 over the shape's blocks (explicit blocks are leaves
        that cannot be passed through), laid out once a shape: every run of blocks [i..j],
        shortest first, as its cell (i * q + j in a flat table) and its cuts (`self.cuts`):
        [i..k] and [k+1..j] multiplied, [i..k] pushed through k+1..j (no explicit block in
        it), or [k+1..j] pulled through i..k (none explicit there, every tape fitting). Run by
        sums once here, it gives each cell's least work (`shape.work`) and the whole's.

        A shape one move from another whose recipe is kept (`_Shape.origin`) takes from it
        every cell of a run without the block the move made, and their least work: the same
        blocks, so the same cell; only the runs through that block are laid out anew."""
        if shape.cells is not None:
            self.with_cells[shape] = self.with_cells.pop(shape)  # used last now
            return shape.cells
        key, refused, q = shape.key, self.refused, len(self.e)
        b = len(key)
        explicit = [0]  # prefix counts of explicit blocks
        for _, _, made in key:
            explicit.append(explicit[-1] + made)
        origin, position = shape.origin if shape.origin is not None else (None, 0)
        if origin is not None and origin.cells is not None:
            first, last, _ = key[position]  # the block the move made: the runs through it are new
            cells = [cell for cell in origin.cells if cell[0] // q > last or cell[0] % q < first]
            work = origin.work.copy()
            work[first * q + last] = 0
            through = position  # only the runs lo..hi with lo <= position <= hi
        else:
            cells, work, through = [], [0] * (q * q), -1
            for first, last, explicitly in key:
                work[first * q + last] = 0 if explicitly else self.leaf[first][1]
        fresh: list[Cell] = []
        for length in range(2, b + 1):
            lows = (
                range(b - length + 1)
                if through < 0
                else range(max(0, through - length + 1), min(through, b - length) + 1)
            )
            for lo in lows:
                hi = lo + length - 1
                i, j, ahead, behind = key[lo][0], key[hi][1], explicit[lo], explicit[hi + 1]
                row, fits = self.cuts[i][j], refused[i]
                cuts: tuple[Cut, ...] = tuple(
                    row[k][2 * (behind == explicit[cut + 1]) + (explicit[cut + 1] == ahead and refused[k + 1] == fits)]
                    for cut, k in ((cut, key[cut][1]) for cut in range(lo, hi))
                )
                fresh.append((i * q + j, cuts))
        _run(fresh, work)
        cells += fresh
        shape.least_work, shape.cells, shape.work = work[q - 1], cells, work
        self.with_cells[shape] = b * (b * b - 1) // 6  # the cuts of every run of b blocks
        self.cuts_kept += self.with_cells[shape]
        while self.cuts_kept > RECIPE_CUTS_KEPT and len(self.with_cells) > 1:  # each keeps its least work
            oldest = next(iter(self.with_cells))
            self.cuts_kept -= self.with_cells.pop(oldest)
            oldest.cells, oldest.work = None, []
        return cells

    def least_work(self, shape: _Shape) -> int:
        """Least total cost to finish from the shape's blocks, with unlimited time."""
        if shape.least_work is None:
            self.recipe(shape)
        assert shape.least_work is not None
        return shape.least_work

    def least_finish(self, blocks: tuple[Block, ...], earliest: int) -> int:
        """Least finishing time with unlimited machines, no operation starting before
        `earliest` (the first free machine)."""
        return self._finish(self.shape(blocks), blocks, earliest, None)

    def least_finish_on(self, blocks: tuple[Block, ...], shape: _Shape, free: tuple[int, ...]) -> int:
        """Least finishing time on the search's machines, free at `free` (sorted): as
        least_finish, and a multiplication starts no sooner than the least work of both its
        operands could be done on the machines after their free times (`filled`):
        everything below a product is done before it starts. Nothing starts before the first
        machine frees, so a block ready sooner counts as ready then; and the value moves with
        every time by the same shift, so it is kept by the times relative to that first
        (states reached by other orders of the same tasks share it)."""
        earliest = free[0]
        key = (
            shape,
            tuple(max(ready, earliest) - earliest for _, _, ready in blocks if ready != RAW),
            tuple(at - earliest for at in free),
        )
        relative = self.finishes.get(key)
        if relative is None:
            relative = self._finish(shape, blocks, earliest, free) - earliest
            if len(self.finishes) >= FINISHES_KEPT:
                self.finishes.clear()
            self.finishes[key] = relative
        return relative + earliest

    def _finish(self, shape: _Shape, blocks: tuple[Block, ...], earliest: int, free: tuple[int, ...] | None) -> int:
        """The recipe's DP run by times (`_run`): a raw leaf is accumulated from `earliest`, an
        explicit one is ready at its time (no sooner than `earliest`); without `free`, the
        unlimited-machine critical path."""
        cells, q = self.recipe(shape), len(self.e)
        work, leaf = shape.work, self.leaf
        best = [0] * (q * q)
        for first, last, ready in blocks:
            best[first * q + last] = earliest + leaf[first][1] if ready == RAW else max(ready, earliest)
        _run(cells, best, (earliest, free, work))
        return best[q - 1]

    def bound(
        self, blocks: tuple[Block, ...], shape: _Shape, free: tuple[int, ...], enough: float = float("inf")
    ) -> int:
        """A lower bound on the makespan from this state: the least work over the machines,
        or the least finish on them (least_finish_on), whichever is larger; the first alone
        when it reaches `enough` (a makespan the search has already)."""
        if len(blocks) == 1 and blocks[0][2] != RAW:  # done (a raw one is still to accumulate)
            return blocks[0][2]
        spread = -(-(sum(free) + self.least_work(shape)) // self.machines)
        if spread >= enough:
            return spread
        return max(spread, self.least_finish_on(blocks, shape, free))


def _run(
    cells: list[Cell], best: list[int], times: tuple[int, tuple[int, ...] | None, list[int]] | None = None
) -> None:
    """The DP of section 3.6 over a recipe's cells, each cut's least option into `best` (which
    holds the leaves): by sums (least work), or with `times` (earliest, free, least work per
    cell) by times, a product starting once both operands are done and, where the machines'
    free times are given, no sooner than their least work could be done on them (`filled`).
    That wait can only matter before ceil((sum(free) + work) / P), the machines sharing the
    work, and before earliest + work, one machine alone."""
    earliest, free, work = times if times is not None else (0, None, [])
    done_by, machines, total = (None, 1, 0) if free is None else (filled(free), len(free), sum(free))
    for cell, cuts in cells:
        least = None
        for lower, upper, multiply, tan, adj in cuts:
            first, second = best[lower], best[upper]
            if times is None:
                ready = first + second
            else:
                ready = first if first > second else second
                if done_by is not None:
                    both = work[lower] + work[upper]
                    if ready * machines < total + both and ready < earliest + both:
                        done = done_by(both)
                        if done > ready:
                            ready = done
            option = multiply + ready
            if least is None or option < least:
                least = option
            if tan is not None and first + tan < least:
                least = first + tan
            if adj is not None and second + adj < least:
                least = second + adj
        assert least is not None
        best[cell] = least


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
    root = search.shape(blocks)
    root_bound = search.bound(blocks, root, free)
    best = start if start is not None else list_schedule(chain, _first_plan(chain, matrix_free, memory), machines)
    best_tasks, best_span = list(best.tasks), best.makespan
    deadline = time.perf_counter() + time_limit
    # States already reached, by their blocks' shape: the times at which each explicit block is
    # ready (none earlier than the first free machine: nothing starts before it) and the
    # machines free. A state no earlier anywhere than one reached already can do no better.
    # Kept as one array a shape (columns: the states not dominated so far), compared all at once:
    # a shape's front grows to thousands. Every time in a state searched is below the start's
    # makespan, so int64 holds them unless that is beyond it (then Python's integers).
    seen: dict[_Shape, npt.NDArray[Any]] = {}
    dtype = np.int64 if best_span < 2**62 else object

    def dominated(blocks: tuple[Block, ...], shape: _Shape, free: tuple[int, ...]) -> bool:
        times = np.array((*(max(ready, free[0]) for _, _, ready in blocks if ready != RAW), *free), dtype=dtype)
        times = times[:, np.newaxis]
        reached = seen.get(shape)
        if reached is None:
            seen[shape] = times
            return False
        # One column a state: the reductions run along rows, across all the states at once
        # (5-10x faster than along each state's few times), and through the ufuncs' own
        # reductions (ndarray.all and .any go through Python wrappers).
        later = reached - times  # a state no later anywhere (all <= 0) dominates this one
        if np.minimum.reduce(np.maximum.reduce(later, axis=0)) <= 0:
            return True
        seen[shape] = np.concatenate((reached[:, np.minimum.reduce(later, axis=0) < 0], times), axis=1)
        return False

    timed_out = False
    path: list[Task] = []

    def descend(blocks: tuple[Block, ...], shape: _Shape, free: tuple[int, ...]) -> None:
        nonlocal best_tasks, best_span, timed_out
        if len(blocks) == 1 and blocks[0][2] != RAW:
            if blocks[0][2] < best_span:
                best_span, best_tasks = blocks[0][2], list(path)
            return
        if timed_out or time.perf_counter() > deadline:
            timed_out = True
            return
        if dominated(blocks, shape, free):
            return
        children = []
        soonest = search.soonest_accumulation(shape.moves, free[0])
        for move, (kind, first, last, cost, used, detail) in enumerate(shape.moves):
            begin = max(free[0], *(blocks[at][2] for at in used))
            end = begin + cost
            if begin >= soonest and end != soonest:
                continue
            merged = (*blocks[: used[0]], (first, last, end), *blocks[used[-1] + 1 :])
            later = tuple(sorted((*free[1:], end)))
            after = search.after(shape, move, merged)
            bound = search.bound(merged, after, later, best_span)
            if bound < best_span:
                task = _task(kind, first, last, cost, 0, begin, detail)
                children.append((bound, end, task, merged, after, later))
        children.sort(key=lambda child: (child[0], child[1]))
        for bound, _, task, merged, after, later in children:
            if bound >= best_span:
                break
            path.append(task)
            descend(merged, after, later)
            path.pop()

    if root_bound < best_span:
        descend(blocks, root, free)
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
            first, last = op.first, op.last  # a tangent step moves `last` up, an adjoint step `first` down
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
    search, blocks = (
        _Search(chain, machines, matrix_free, memory),
        tuple((index, index, RAW) for index in range(len(chain))),
    )
    return search.bound(blocks, search.shape(blocks), (0,) * machines)


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
