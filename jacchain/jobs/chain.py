"""Analyse a generalised Jacobian chain: every order's plan and exact cost, and on P machines
the exact schedule of the optima beside JCDP's DP heuristic; explain the matrix-free plan."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..chain.elementals import ElementalChain
from ..cost.elimination import OpKind
from ..cost.machine import Calibration, FixedCosts, with_fixed_costs
from ..cost.ratio import count_ratio, ratio_text
from ..errors import JacchainError
from ..model.activations import ACTIVATIONS
from ..model.spec import NetworkSpec
from ..planners.jcdp import ElementalPlan, solve
from ..planners.orders import ElementalOrder, resolve_elemental_orders
from ..planners.schedule import (
    Schedule,
    Task,
    critical_path,
    exact_schedule,
    heuristic_schedule,
    list_schedule,
    root_bound,
)
from ..run.arrays import max_abs_difference
from ..run.timing import BlasInfo, Timing
from ..types import Array, Of, Progress

if TYPE_CHECKING:
    from ..run.elemental import ElementalModel

SEARCH_UP_TO = 40  # elementals: the branch and bound searches schedules up to this length
HEURISTIC_UP_TO = 120  # elementals: JCDP's DP heuristic (O(P^2 q^3) in Python) up to this
BOUND_UP_TO = 100  # elementals: the root lower bound and the critical path (O(q^3) Python DPs) up to this


@dataclass(frozen=True)
class Measured:
    """A plan run on a real network: its time, its result against the explicit Jacobian, and
    on P machines the schedule run on P threads beside the same plan on one."""

    time: Timing
    max_abs_diff: float  # the worst result of the plan's run and (on P machines) its schedules' runs
    predicted_time: float | None = None
    makespan: Timing | None = None  # the schedule on P threads, one BLAS thread each
    one_thread: Timing | None = None  # the same plan's tasks on one thread
    predicted_makespan: float | None = None

    @property
    def speedup(self) -> float | None:
        if self.makespan is None or self.one_thread is None or self.makespan.median <= 0:
            return None
        return self.one_thread.median / self.makespan.median


@dataclass(frozen=True)
class ChainOrderResult:
    order: ElementalOrder
    plan: ElementalPlan | None  # None: the memory limit refuses this order's adjoints
    schedule: Schedule | None = None
    dp_heuristic: int | None = None
    measured: Measured | None = None

    @property
    def macs(self) -> int | None:
        return None if self.plan is None else self.plan.cost


@dataclass(frozen=True)
class ChainAnalysis:
    chain: ElementalChain
    source: str  # "chain config", or how a network was read as a chain
    memory: int | None
    machines: int | None
    orders: tuple[ChainOrderResult, ...]
    critical_path: int | None = None
    blas: BlasInfo | None = None
    fixed_costs: FixedCosts | None = None  # timed beside the plans, where a calibration prices them
    cores: int | None = None  # the cores the schedules' threads ran on, which their model shares

    def order(self, name: str) -> ChainOrderResult | None:
        return next((r for r in self.orders if r.order.name == name), None)


def analyze_chain(
    chain: ElementalChain,
    orders: list[str] | tuple[str, ...] | None = None,
    memory: int | None = None,
    machines: int | None = None,
    time_limit: float = 10.0,
    source: str = "chain config",
    progress: Progress | None = None,
) -> ChainAnalysis:
    """Plan every order (exact costs); with `machines`, schedule the optima on them."""
    if memory is not None and memory < 0:
        raise JacchainError(f"--memory must be a non-negative integer (0: no limit), got {memory}")
    if machines is not None and machines < 1:
        raise JacchainError(f"--machines must be a positive integer, got {machines}")
    results = []
    for order in resolve_elemental_orders(orders):
        plan = order.build(chain, memory)
        schedule = heuristic = None
        if machines is not None and order.schedulable and plan is not None:
            if progress is not None:
                searched = _searched(chain) and time_limit < float("inf")
                limit = f" (searching up to {time_limit:g} s)" if searched else ""
                progress(f"scheduling {order.name} on {machines} machine(s){limit}", 0, 1)
            matrix_free = order.name == "matrix-free"
            jcdp = heuristic_schedule(chain, machines, matrix_free, memory) if len(chain) <= HEURISTIC_UP_TO else None
            schedule = schedule_on(chain, plan, machines, matrix_free, memory, time_limit, jcdp)
            heuristic = None if jcdp is None else jcdp.makespan  # the heuristic's value (tests hold them equal)
        results.append(ChainOrderResult(order, plan, schedule, heuristic))
    floor = critical_path(chain, True, memory) if machines is not None and len(chain) <= BOUND_UP_TO else None
    return ChainAnalysis(chain, source, memory, machines, tuple(results), floor)


def _searched(chain: ElementalChain) -> bool:
    """Whether the branch and bound searches this chain's schedules (SEARCH_UP_TO)."""
    return len(chain) <= SEARCH_UP_TO


def schedule_on(
    chain: ElementalChain,
    plan: ElementalPlan,
    machines: int,
    matrix_free: bool,
    memory: int | None,
    time_limit: float,
    jcdp: Schedule | None = None,
) -> Schedule:
    """The exact schedule by branch and bound, starting from the better of the plan's list
    schedule and `jcdp` (the DP heuristic's schedule), within the time limit (exact=False and
    the proven lower bound when it runs out). Past SEARCH_UP_TO elementals a node's bound (a
    Python DP, cubic in the blocks left) costs too much for the search to better its start in
    seconds (on random JCDP-like chains of 44 and 48, 3 s bettered none of 8; of 29 to 40,
    13 of 36): the better start, with the root lower bound where affordable."""
    start = list_schedule(chain, plan, machines)
    if jcdp is not None:
        start = min(start, jcdp, key=lambda s: s.makespan)
    if _searched(chain):
        return exact_schedule(chain, machines, matrix_free, memory, time_limit, start)
    bound = root_bound(chain, machines, matrix_free, memory) if len(chain) <= BOUND_UP_TO else 0
    return replace(start, exact=start.makespan <= bound, lower_bound=bound)


@dataclass(frozen=True)
class ChainExplanation:
    chain: ElementalChain
    memory: int | None
    best: ElementalPlan
    dense: ElementalPlan
    why: str


def explain_chain(chain: ElementalChain, memory: int | None = None) -> ChainExplanation:
    """The matrix-free optimum's operations, and why it beats accumulate-then-multiply."""
    best, dense = solve(chain, True, memory), solve(chain, False, memory)
    return ChainExplanation(chain, memory, best, dense, why(chain, best, dense))


def why(chain: ElementalChain, best: ElementalPlan, dense: ElementalPlan) -> str:
    """One sentence: what the matrix-free plan avoids, in the chain's numbers."""
    passed = [
        index
        for op in best.operations
        if op.kind in (OpKind.TAN_ELIM, OpKind.ADJ_ELIM) and op.through is not None
        for index in range(op.through[0], op.through[1] + 1)
    ]
    if best.cost == dense.cost or not passed:
        return (
            f"Accumulating every elemental and multiplying the Jacobians is already optimal here "
            f"({dense.cost:,} multiply-adds): no elimination is cheaper than forming a Jacobian."
        )
    names = ", ".join(chain.symbol(index) for index in sorted(passed))
    columns = sum(1 for op in best.operations if op.kind == OpKind.TAN_ELIM)
    rows = sum(1 for op in best.operations if op.kind == OpKind.ADJ_ELIM)
    return (
        f"The matrix-free plan never forms the Jacobians of {names}: it pushes the explicit result "
        f"through them ({columns} tangent and {rows} adjoint elimination(s)), which costs less than "
        f"accumulating them and multiplying them in, so {best.cost:,} multiply-adds against {dense.cost:,} "
        f"for accumulate-then-multiply ({ratio_text(count_ratio(dense.cost, best.cost))} fewer)."
    )


Scratch = Callable[[int, bool, int], int]


@dataclass(frozen=True)
class Footprint:
    """What a model's run holds besides the plans' results: `fixed` entries throughout
    (parameters, the reference), and `scratch(index, tangent, vectors)`, the entries one
    tangent of elemental `index` on `vectors` columns (or one adjoint on `vectors` rows)
    holds at its peak beyond its block and its result."""

    fixed: int
    scratch: Scratch


def run_memory(analysis: ChainAnalysis, footprint: Footprint, itemsize: int) -> int:
    """Modelled bytes of running the analysis's plans and schedules: the model's fixed entries
    and the largest run's, which are every result (run_plan and run_schedule keep each to the
    end) and what its operations hold while they run (`_transient`): on one thread the most
    any one holds, on a schedule's P machines the P largest, since at most P run at once. A
    schedule's eliminations are one task per elemental, each result kept, where a plan's
    elimination through several keeps only the last: its runs can hold more."""
    chain = analysis.chain
    runs: list[tuple[Sequence[Any], int]] = [(r.plan.operations, 1) for r in analysis.orders if r.plan is not None]
    for r in analysis.orders:
        if r.schedule is not None and r.plan is not None:  # the schedule, and its plan's tasks on one thread
            runs += [(r.schedule.tasks, r.schedule.machines), (list_schedule(chain, r.plan, 1).tasks, 1)]
    held = (_run_entries(chain, operations, footprint.scratch, machines) for operations, machines in runs)
    return itemsize * (footprint.fixed + max(held, default=0))


def check_run_fits(
    analysis: ChainAnalysis, footprint: Footprint, itemsize: int, max_memory: int | None, label: str
) -> None:
    """Refuse, before anything is built, a run whose modelled memory (run_memory) is over the limit."""
    from ..cost.memory import check_fits, default_limit

    check_fits(
        run_memory(analysis, footprint, itemsize),
        default_limit() if max_memory is None else max_memory,
        f"explicit run of {label} as a chain of elementals",
    )


def network_footprint(spec: NetworkSpec, of: Of = "loss") -> Footprint:
    """A network's run (run/elemental.py's ElementalNetwork). It holds its parameters and
    forward pass, each dense activation Jacobian (softmax's n x n), and the reference at its
    largest while it is formed (one layer Jacobian, the product so far and the next). Its
    scratch: a tangent through a dense D_i keeps W_i V while D_i multiplies it (a diagonal
    scales it in place, broadcast); an adjoint scales (broadcast) or multiplies its block by
    D_i into a new one before W_i; the loss's and an identity's evaluations make only their
    result. Scratch is what an evaluation holds at its peak beyond its block and its result."""
    sizes, layers = spec.sizes, list(zip(spec.sizes, spec.sizes[1:]))
    elementwise = [ACTIVATIONS.get(name).elementwise for name in spec.activations]
    dense = sum(n * n for n, flat in zip(sizes[1:], elementwise) if not flat)
    if of == "loss":
        reference = max(n_out * n_in + n_in + n_out for n_in, n_out in layers)
    else:
        reference = max(
            [sizes[1] * sizes[0], *(n_out * n_in + (n_in + n_out) * sizes[0] for n_in, n_out in layers[1:])]
        )

    def scratch(index: int, tangent: bool, vectors: int) -> int:
        if index == spec.n_layers or spec.activations[index] == "identity":  # the loss, or D_i = I
            return 0
        block = sizes[index + 1] * vectors
        if not elementwise[index]:
            return block
        if tangent:
            return broadcast_buffers(block)
        # the scaled block with numpy's buffers, then with the result (W_i's columns)
        return block + max(0, broadcast_buffers(block) - sizes[index] * vectors)

    return Footprint(spec.n_params + 2 * sum(sizes) + dense + reference, scratch)


def broadcast_buffers(entries: int, operands: int = 1) -> int:
    """What numpy's ufunc buffers hold, at most, while it broadcasts `operands` operands (a
    diagonal against a block: one; a column against a row: two) into `entries` entries: each
    broadcast operand's worth, up to its buffer size (np.getbufsize()). Traced here (numpy
    2.4, float32 and float64, less its ~1 KiB of objects): 1.0-1.1x the result per operand
    up to 8,192 entries, then 8,192-8,340 per operand whatever the size."""
    return operands * min(entries, np.getbufsize())


def surrogate_footprint(chain: ElementalChain) -> Footprint:
    """A chain config's surrogate run (run/surrogate.py). It holds max(t, a) entries per
    elemental, and for the reference one elemental's dense Jacobian (its rank-one term made
    beside it) with the product so far and the next. Its scratch, one product at a time:
    R V (r rows) while L multiplies it; the rank-one term's row and its q x k outer product,
    made by broadcasting (numpy's buffers beside it); the tangent's padding (its full rows).
    For an adjoint the same with L and R, p and the padding's columns swapped."""
    from ..run.surrogate import Shape, padding

    widths, e = chain.widths, chain.elementals
    factors = sum(max(x.tangent_cost, x.adjoint_cost) for x in e)
    shapes = [Shape.of(x) for x in e]

    def scratch(index: int, tangent: bool, vectors: int) -> int:
        shape, x = shapes[index], e[index]
        if tangent:
            rows, padded = shape.q, padding(shape.tangent_pad, x.inputs)[0]
        else:
            rows, padded = shape.p, padding(shape.adjoint_pad, x.outputs)[0]
        rank_one = vectors * (1 + rows) + broadcast_buffers(rows * vectors, operands=2)
        return max(vectors * shape.rank, rank_one, vectors * padded)

    jacobian = max(x.inputs * x.outputs + shape.q * shape.p for x, shape in zip(e, shapes))  # L R, and l r added in
    fixed = factors + jacobian + 2 * max(widths[0] * w for w in widths)
    return Footprint(fixed, scratch)


def run_plans(
    analysis: ChainAnalysis,
    spec: NetworkSpec | None,
    of: Of = "loss",
    dtype: str | None = None,
    seed: int | None = None,
    repeats: int | None = None,
    threads: int | None = None,
    max_memory: int | None = None,
    calibrate: Callable[[str, int | None], Calibration | None] | None = None,
) -> ChainAnalysis:
    """Run the analysis's plans on real arrays: a network (`spec`) on its own layers, a chain
    config on surrogate elementals (run/surrogate.py) in `dtype` (float64 by default) drawn
    from `seed`. The memory is checked before anything is built or measured; `calibrate`
    (dtype, BLAS threads) gives the calibrations that price the plans and the schedules."""
    if spec is not None:
        dtype, footprint, label = spec.dtype, network_footprint(spec, of), spec.label
    else:
        dtype, footprint, label = dtype or "float64", surrogate_footprint(analysis.chain), analysis.chain.label
    check_run_fits(analysis, footprint, int(np.dtype(dtype).itemsize), max_memory, label)
    calibration = one = None
    if calibrate is not None:
        calibration = calibrate(dtype, threads)
        one = calibrate(dtype, 1) if analysis.machines else None
    model: ElementalModel
    if spec is not None:
        from ..run.elemental import ElementalNetwork

        model = ElementalNetwork(spec, of)
    else:
        from ..run.surrogate import SurrogateChain

        model = SurrogateChain(analysis.chain, dtype, 0 if seed is None else seed)
    return measure_chain(analysis, model, calibration, repeats, threads, one)


def measure_chain(
    analysis: ChainAnalysis,
    model: ElementalModel,
    calibration: Calibration | None = None,
    repeats: int | None = None,
    threads: int | None = None,
    one_thread: Calibration | None = None,
) -> ChainAnalysis:
    """Run every plan on the model's real arrays (a network's layers, or a chain config's
    surrogates): counted == modelled (else a RuntimeError), the result against the full
    Jacobian formed independently, the plans timed side by side; with machines, the schedule
    on that many threads (one BLAS thread each) beside the same tasks on one. `calibration`
    prices the plans at `threads` BLAS threads, `one_thread` the schedules' tasks at one.
    Check the memory first (check_run_fits)."""
    from ..cost.time_model import plan_time
    from ..run.calibrate import time_with_fixed_costs
    from ..run.elemental import Counter, model_probe, run_plan
    from ..run.timing import blas_info, blas_threads, usable_cores

    chain = analysis.chain
    cores = usable_cores() if analysis.machines else None
    reference = model.reference()
    runs, diffs = {}, {}  # by the order's place: the plans that run, timed side by side below
    with blas_threads(threads):
        for place, result in enumerate(analysis.orders):
            plan = result.plan
            if plan is None:
                continue
            counter = Counter()
            value = run_plan(model, plan, counter)
            if counter.macs != plan.cost:  # a counting bug
                raise RuntimeError(f"{result.order.name}: counted {counter.macs} MACs, the model says {plan.cost}")
            diffs[place] = max_abs_difference(value, reference)
            del value  # not held while the next plan runs
            runs[place] = functools.partial(run_plan, model, plan, Counter())
        priced = model.dtype if calibration is not None else None
        probe = model_probe(model) if priced else None  # the model's own calls, not the network executor's
        timed, fixed = time_with_fixed_costs(list(runs.values()), priced, repeats, probe)
        timings = dict(zip(runs, timed))
        blas = blas_info()
    calibration, one_thread = with_fixed_costs(calibration, fixed), with_fixed_costs(one_thread, fixed)
    measured = []
    for place, result in enumerate(analysis.orders):
        if result.plan is None:
            measured.append(result)
            continue
        tasks = list_schedule(chain, result.plan, 1).tasks
        predicted = None
        if calibration is not None:
            products = [p for task in tasks for p in model.task_products(task)]
            predicted = plan_time(products, calibration, model.itemsize)
        extra: dict[str, Any] = {}
        worst = diffs[place]
        if result.schedule is not None:
            extra = _measure_schedule(model, result.schedule, tasks, reference, one_thread, repeats, cores)
            worst = max(worst, extra.pop("max_abs_diff"))
        measured.append(replace(result, measured=Measured(timings[place], worst, predicted, **extra)))
    return replace(analysis, orders=tuple(measured), blas=blas, fixed_costs=fixed, cores=cores)


def _measure_schedule(
    model: ElementalModel,
    schedule: Schedule,
    one: tuple[Task, ...],
    reference: Array,
    calibration: Calibration | None,
    repeats: int | None,
    cores: int | None,
) -> dict[str, Any]:
    """The schedule on its machines beside the same plan's tasks on one thread, each run once
    and checked (counted == the tasks' work, else a RuntimeError; the result against the
    reference: `max_abs_diff`, the worse of the two) before the two are timed side by side."""
    from ..cost.time_model import plan_time
    from ..run.elemental import Counter, Machines, run_schedule
    from ..run.timing import blas_threads, time_alternating

    worst = 0.0
    with blas_threads(1), Machines(schedule.machines) as pool:
        runs = [
            functools.partial(run_schedule, model, schedule.tasks, schedule.machines, pool=pool),
            functools.partial(run_schedule, model, one, 1, pool=pool),
        ]
        for run, tasks in zip(runs, (schedule.tasks, one)):
            counter = Counter()
            value, _ = run(counter)
            work = sum(task.cost for task in tasks)
            if counter.macs != work:
                raise RuntimeError(f"a schedule's run counted {counter.macs} MACs, its tasks' work is {work}")
            worst = max(worst, max_abs_difference(value, reference))
            del value
        # side by side, so the speed-up is not one spell of the machine against another
        parallel, serial = time_alternating([functools.partial(run, Counter()) for run in runs], repeats)
    predicted = None
    if calibration is not None:
        durations = [plan_time(model.task_products(task), calibration, model.itemsize) for task in schedule.tasks]
        predicted = simulate(schedule.tasks, durations, schedule.machines, cores)
    return {"makespan": parallel, "one_thread": serial, "predicted_makespan": predicted, "max_abs_diff": worst}


def simulate(tasks: tuple[Task, ...], durations: list[float], machines: int, cores: int | None = None) -> float:
    """The makespan of the schedule's machine assignment and order with other durations (in
    the same unit), its `machines` sharing `cores` processors (default: one each). Each machine
    runs its tasks in the order of their start times, each once its operands are made; while
    more machines have a task running than there are cores, each runs at cores/running of full
    speed (the operating system sharing the cores among them), so P threads on fewer cores
    never finish sooner than their work over the cores.

    >>> from jacchain.planners.schedule import Task
    >>> from jacchain.cost.elimination import OpKind
    >>> two = (Task(OpKind.ACC_TAN, 0, 0, 1, 0, 0, 1), Task(OpKind.ACC_ADJ, 1, 1, 1, 1, 0, 1))
    >>> simulate(two, [1.0, 1.0], 2), simulate(two, [1.0, 1.0], 2, cores=1)
    (1.0, 2.0)
    """
    shared = machines if cores is None else max(cores, 1)
    queues = [
        sorted(((t, d) for t, d in zip(tasks, durations) if t.machine == m), key=lambda pair: pair[0].start)
        for m in range(machines)
    ]
    made: set[tuple[int, int]] = set()
    left: dict[int, float] = {}  # machine: the work left of the task it is running
    now = 0.0
    while any(queues):
        for m, queue in enumerate(queues):
            if queue and m not in left and all(operand in made for operand in queue[0][0].operands()):
                left[m] = queue[0][1]
        if not left:
            raise RuntimeError("a task waits for an operand that no task before it makes")
        rate = min(1.0, shared / len(left))
        least = min(left.values())
        if math.isinf(least):
            return math.inf  # a task beyond any machine (the time model's inf)
        now += least / rate
        for m in list(left):
            if left[m] - least <= 1e-12 * least:  # finishes now (rounding aside)
                task = queues[m].pop(0)[0]
                made.add((task.first, task.last))
                del left[m]
            else:
                left[m] -= least
    return now


def _run_entries(chain: ElementalChain, operations: Sequence[Any], scratch: Scratch, machines: int) -> int:
    """Every result of a plan's operations or a schedule's tasks, and the `machines` largest
    of what they hold while they run."""
    e = chain.elementals
    held = sorted((_transient(chain, op, scratch) for op in operations), reverse=True)
    return sum(e[op.last].outputs * e[op.first].inputs for op in operations) + sum(held[:machines])


def _transient(chain: ElementalChain, op: Any, scratch: Scratch) -> int:
    """What a plan's operation or a schedule's task holds while it runs, beyond its operands
    and its result: an accumulation its n x n identity seed and its evaluation's scratch; an
    elimination each step's scratch and, through several elementals, the value between steps
    (the one it reads and the one it makes); a multiplication nothing."""
    e = chain.elementals
    if op.kind in (OpKind.ACC_TAN, OpKind.ACC_ADJ):
        tangent = op.kind == OpKind.ACC_TAN
        n = e[op.first].inputs if tangent else e[op.first].outputs
        return n * n + scratch(op.first, tangent, n)
    if op.kind == OpKind.MULTIPLY:
        return 0
    tangent = op.kind == OpKind.TAN_ELIM
    if isinstance(op, Task):  # one step: through its last elemental, or its first
        steps = [op.last if tangent else op.first]
    else:
        low, high = op.through
        steps = list(range(low, high + 1)) if tangent else list(range(high, low - 1, -1))
    # the value after a step: a column per input of the chain's segment, or a row per output
    vectors = e[op.first].inputs if tangent else e[op.last].outputs
    value = [vectors * (e[k].outputs if tangent else e[k].inputs) for k in steps]
    return max(
        (value[place - 1] if place else 0)
        + (value[place] if place < len(steps) - 1 else 0)
        + scratch(k, tangent, vectors)
        for place, k in enumerate(steps)
    )
