"""Generalised Jacobian chains (issue 12): the model's worked example, brute-force references
for plans and schedules, and the properties the model implies."""

import itertools
import math
import random
import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.chain.config import load_chain
from jacchain.chain.elementals import Elemental, ElementalChain, network_chain
from jacchain.cost.elimination import OpKind, accumulation
from jacchain.errors import JacchainError
from jacchain.jobs.analyze import count_only, measure_peak
from jacchain.jobs.chain import (
    Footprint,
    analyze_chain,
    network_footprint,
    run_memory,
    run_plans,
    simulate,
    surrogate_footprint,
)
from jacchain.jobs.plan import plan_orders
from jacchain.model.spec import make_spec
from jacchain.planners import schedule as schedule_module
from jacchain.planners.jcdp import pure_adjoint, pure_tangent, solve
from jacchain.planners.schedule import (
    Task,
    critical_path,
    dp_heuristic,
    exact_schedule,
    filled,
    heuristic_schedule,
    list_schedule,
    root_bound,
)

EXAMPLE = ElementalChain((Elemental(5, 1, 6, 6, 20), Elemental(1, 4, 5, 8, 30), Elemental(4, 1, 8, 8, 10)), "example")


def test_the_worked_example_reproduces_every_number_of_the_model():
    assert solve(EXAMPLE).cost == 19
    assert solve(EXAMPLE).bracketing(EXAMPLE) == "adj[F1](tan[F3](acc_tan(F2)))"
    assert solve(EXAMPLE, matrix_free=False).cost == 28
    assert solve(EXAMPLE, memory=10).cost == 48 and solve(EXAMPLE, False, 10).cost == 52
    assert solve(EXAMPLE, memory=9).cost == 48 and solve(EXAMPLE, False, 9).cost == 76
    assert solve(EXAMPLE, memory=20).cost == 19
    assert pure_tangent(EXAMPLE).cost == 5 * (6 + 5 + 8) and pure_adjoint(EXAMPLE).cost == 1 * (6 + 8 + 8)
    assert dp_heuristic(EXAMPLE, 2) == 18 and exact_schedule(EXAMPLE, 2).makespan == 17
    assert all(exact_schedule(EXAMPLE, p).makespan == 17 for p in (3, 4)) and critical_path(EXAMPLE) == 17
    assert dp_heuristic(EXAMPLE, 1) == 19 == exact_schedule(EXAMPLE, 1).makespan


def test_the_pure_modes_accumulate_one_end_and_eliminate_through_the_rest():
    # input-first: F1 by tangents, then its columns pushed through F2 and F3 (one elimination);
    # loss-first: F3 by adjoints, pulled back through F2 and F1, one elemental a step where the
    # tapes (20 + 30) are over the limit (30) together
    tangent = pure_tangent(EXAMPLE)
    assert tangent.bracketing(EXAMPLE) == "tan[F2,F3](acc_tan(F1))"
    assert [(op.first, op.last, op.through) for op in tangent.operations] == [(0, 0, None), (0, 2, (1, 2))]
    assert pure_adjoint(EXAMPLE).bracketing(EXAMPLE) == "adj[F1,F2](acc_adj(F3))"
    assert pure_adjoint(EXAMPLE, 30).bracketing(EXAMPLE) == "adj[F1](adj[F2](acc_adj(F3)))"
    one = ElementalChain(EXAMPLE.elementals[:1])
    assert [op.kind for op in pure_tangent(one).operations] == [OpKind.ACC_TAN]
    assert [op.kind for op in pure_adjoint(one).operations] == [OpKind.ACC_ADJ]


def test_an_accumulation_takes_adjoints_only_when_cheaper_and_their_tape_fits():
    # n t against m a (section 2): 2 x 6 = 12 tangent MACs, 3 x a adjoint ones
    def elemental(adjoint_cost, tape=10):
        return Elemental(2, 3, 6, adjoint_cost, tape)

    assert accumulation(elemental(3), None) == (OpKind.ACC_ADJ, 9)
    assert accumulation(elemental(4), None) == (OpKind.ACC_TAN, 12)  # a tie goes to tangents
    assert accumulation(elemental(5), None) == (OpKind.ACC_TAN, 12)
    assert accumulation(elemental(3, tape=10), 10) == (OpKind.ACC_ADJ, 9)  # the tape fits at equality
    assert accumulation(elemental(3, tape=11), 10) == (OpKind.ACC_TAN, 12)
    assert accumulation(elemental(3, tape=11), 0) == (OpKind.ACC_ADJ, 9)  # 0: no limit


def test_the_p2_optimum_is_the_models_schedule():
    schedule = exact_schedule(EXAMPLE, 2)
    assert schedule.exact and schedule.makespan == 17 and schedule.work == 6 + 5 + 8 + 4 + 5
    kinds = sorted(task.kind for task in schedule.tasks)
    assert kinds == sorted([OpKind.ACC_ADJ, OpKind.ACC_TAN, OpKind.ACC_ADJ, OpKind.MULTIPLY, OpKind.MULTIPLY])
    for machine in range(2):  # one task at a time per machine
        spans = sorted((t.start, t.end) for t in schedule.tasks if t.machine == machine)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


# --- brute force: every plan, as the set of costs it can reach


def all_costs(chain, matrix_free=True, memory=None):
    e, fits = chain.elementals, (lambda tape: not memory or tape <= memory)

    @cache
    def plans(i, j):
        if i == j:
            costs = {e[i].inputs * e[i].tangent_cost}
            if fits(e[i].tape):
                costs.add(e[i].outputs * e[i].adjoint_cost)
            return frozenset(costs)
        costs = set()
        for k in range(i, j):
            product = e[j].outputs * e[k].outputs * e[i].inputs
            costs |= {x + y + product for x in plans(i, k) for y in plans(k + 1, j)}
            if matrix_free:
                costs |= {x + e[i].inputs * sum(f.tangent_cost for f in e[k + 1 : j + 1]) for x in plans(i, k)}
                if fits(sum(f.tape for f in e[i : k + 1])):
                    costs |= {y + e[j].outputs * sum(f.adjoint_cost for f in e[i : k + 1]) for y in plans(k + 1, j)}
        return frozenset(costs)

    return plans(0, len(chain) - 1)


def chains(max_length):
    elemental = st.tuples(st.integers(1, 9), st.integers(0, 12), st.integers(0, 12), st.integers(0, 40))
    return st.tuples(st.integers(1, 9), st.lists(elemental, min_size=1, max_size=max_length)).map(
        lambda drawn: ElementalChain(
            tuple(
                Elemental(width_in, width_out, t, a, tape)
                for width_in, (width_out, t, a, tape) in zip([drawn[0], *(x[0] for x in drawn[1])], drawn[1])
            )
        )
    )


limits = st.one_of(st.none(), st.integers(5, 60))  # no memory limit, or one some tapes pass


def check_plan(chain, plan, matrix_free, memory):
    """A valid plan: each elemental accumulated once or passed through once, operands used once,
    eliminations only matrix-free, adjoints within the memory, the costs as the model prices."""
    e = chain.elementals
    touched = []
    used = []
    for op in plan.operations:
        used += op.operands
        if op.kind == OpKind.ACC_TAN:
            touched.append(op.first)
            assert op.cost == e[op.first].inputs * e[op.first].tangent_cost
        elif op.kind == OpKind.ACC_ADJ:
            touched.append(op.first)
            assert op.cost == e[op.first].outputs * e[op.first].adjoint_cost
            assert not memory or e[op.first].tape <= memory
        elif op.kind == OpKind.MULTIPLY:
            assert op.cost == e[op.last].outputs * e[op.split].outputs * e[op.first].inputs
        else:
            assert matrix_free
            low, high = op.through
            touched += range(low, high + 1)
            if op.kind == OpKind.TAN_ELIM:
                assert op.cost == e[op.first].inputs * sum(f.tangent_cost for f in e[low : high + 1])
            else:
                assert op.cost == e[op.last].outputs * sum(f.adjoint_cost for f in e[low : high + 1])
                assert not memory or sum(f.tape for f in e[low : high + 1]) <= memory
    assert sorted(touched) == list(range(len(chain)))
    assert sorted(used) == list(range(len(plan.operations) - 1))
    assert (plan.operations[-1].first, plan.operations[-1].last) == (0, len(chain) - 1)


@settings(max_examples=40, deadline=None)
@given(chain=chains(6), matrix_free=st.booleans(), memory=st.one_of(st.none(), st.integers(1, 60)))
def test_the_dp_finds_the_least_cost_of_all_plans(chain, matrix_free, memory):
    plan = solve(chain, matrix_free, memory)
    assert plan.cost == min(all_costs(chain, matrix_free, memory))
    check_plan(chain, plan, matrix_free, memory)


@settings(max_examples=20, deadline=None)
@given(chain=chains(7), limits=st.lists(st.integers(1, 80), min_size=2, max_size=4))
def test_matrix_free_never_costs_more_and_more_memory_never_hurts(chain, limits):
    for memory in [*sorted(limits), None]:
        assert solve(chain, True, memory).cost <= solve(chain, False, memory).cost
    costs = [solve(chain, True, memory).cost for memory in [*sorted(limits), None]]
    assert costs == sorted(costs, reverse=True)
    dense = [solve(chain, False, memory).cost for memory in [*sorted(limits), None]]
    assert dense == sorted(dense, reverse=True)


def test_the_dp_is_exact_with_python_integers_beyond_int64():
    huge = 10**30
    chain = ElementalChain(
        (Elemental(huge, 3, huge, huge, 1), Elemental(3, huge, 7, 7, 1), Elemental(huge, 1, 5, 5, 1))
    )
    assert solve(chain).cost == min(all_costs(chain))


# --- brute force: every plan with one-elemental elimination steps, every schedule


def plan_trees(chain, matrix_free, memory):
    """Every plan as a task tree: (cost, children) with eliminations one elemental per task."""
    e, fits = chain.elementals, (lambda tape: not memory or tape <= memory)

    @cache
    def trees(i, j):
        found = []
        if i == j:
            found.append((e[i].inputs * e[i].tangent_cost, ()))
            if fits(e[i].tape):
                found.append((e[i].outputs * e[i].adjoint_cost, ()))
            return tuple(found)
        for k in range(i, j):
            product = e[j].outputs * e[k].outputs * e[i].inputs
            found += [(product, (x, y)) for x in trees(i, k) for y in trees(k + 1, j)]
        if matrix_free:
            found += [(e[i].inputs * e[j].tangent_cost, (x,)) for x in trees(i, j - 1)]
            if fits(e[i].tape):
                found += [(e[j].outputs * e[i].adjoint_cost, (y,)) for y in trees(i + 1, j)]
        return tuple(found)

    return trees(0, len(chain) - 1)


def _assignments(n_tasks, machines):
    """Every way to put tasks on machines, up to renaming the machines (first use in order)."""
    if n_tasks == 0:
        yield ()
        return
    for rest in _assignments(n_tasks - 1, machines):
        for machine in range(min(machines, max(rest, default=-1) + 2)):
            yield (*rest, machine)


def best_makespan(tree, machines):
    """Try every machine for every task and every order on each machine."""
    tasks, parents = [], []

    def flatten(node, parent):
        index = len(tasks)
        tasks.append(node[0])
        parents.append(parent)
        for child in node[1]:
            flatten(child, index)

    flatten(tree, None)
    children = [[c for c, p in enumerate(parents) if p == t] for t in range(len(tasks))]
    best = None
    for assignment in _assignments(len(tasks), machines):
        groups = [[t for t in range(len(tasks)) if assignment[t] == m] for m in range(machines)]
        for orders in itertools.product(*(itertools.permutations(g) for g in groups)):
            finish, pending = {}, [list(order) for order in orders]
            clock = [0] * machines
            progress = True
            while progress and any(pending):
                progress = False
                for m, queue in enumerate(pending):
                    if queue and all(c in finish for c in children[queue[0]]):
                        task = queue.pop(0)
                        start = max([clock[m], *(finish[c] for c in children[task])])
                        finish[task] = clock[m] = start + tasks[task]
                        progress = True
            if not any(pending):
                span = max(finish.values())
                best = span if best is None else min(best, span)
    return best


@settings(max_examples=20, deadline=None)
@given(chain=chains(3), machines=st.integers(1, 3), matrix_free=st.booleans())
def test_the_exact_schedule_equals_every_schedule_of_every_plan(chain, machines, matrix_free):
    reference = min(best_makespan(tree, machines) for tree in plan_trees(chain, matrix_free, None))
    schedule = exact_schedule(chain, machines, matrix_free)
    assert schedule.exact and schedule.makespan == reference


def least_makespan(chain, machines, matrix_free):
    """Every sequence of operations, each started on the machine that frees first (exact by the
    start-time argument the test above checks on short chains), memoised on the exact state;
    no bounds and no dominance, so it checks the search's pruning on longer chains."""
    e = chain.elementals

    @cache
    def best(blocks, free):
        if len(blocks) == 1 and blocks[0][2] >= 0:
            return blocks[0][2]
        options = []

        def after(used, first, last, cost):
            begin = max([free[0], *(blocks[u][2] for u in used)])
            merged = (*blocks[: used[0]], (first, last, begin + cost), *blocks[used[-1] + 1 :])
            options.append(best(merged, tuple(sorted((*free[1:], begin + cost)))))

        for index, (first, last, ready) in enumerate(blocks):
            if ready < 0:
                after(
                    (index,),
                    first,
                    last,
                    min(e[first].inputs * e[first].tangent_cost, e[first].outputs * e[first].adjoint_cost),
                )
        for index in range(len(blocks) - 1):
            (i, k, low), (_, j, high) = blocks[index], blocks[index + 1]
            if low >= 0 and high >= 0:
                after((index, index + 1), i, j, e[j].outputs * e[k].outputs * e[i].inputs)
            if matrix_free and low >= 0 and high < 0:
                after((index, index + 1), i, j, e[i].inputs * e[j].tangent_cost)
            if matrix_free and low < 0 and high >= 0:
                after((index, index + 1), i, j, e[j].outputs * e[i].adjoint_cost)
        return min(options)

    return best(tuple((index, index, -1) for index in range(len(chain))), (0,) * machines)


@settings(max_examples=15, deadline=None)
@given(chain=chains(5), machines=st.integers(2, 3), matrix_free=st.booleans())
def test_the_pruned_search_finds_the_least_makespan_of_every_operation_sequence(chain, machines, matrix_free):
    schedule = exact_schedule(chain, machines, matrix_free)
    assert schedule.exact and schedule.makespan == least_makespan(chain, machines, matrix_free)


@settings(max_examples=25, deadline=None)
@given(chain=chains(7), matrix_free=st.booleans(), memory=limits, data=st.data())
def test_a_recipe_taken_from_the_shape_before_equals_one_laid_out_anew(chain, matrix_free, memory, data):
    # Along a random sequence of moves, each shape's DP recipe is derived from its parent's;
    # a search that never saw the parent lays it out from scratch: the same cells, the same
    # least work.
    search = schedule_module._Search(chain, 2, matrix_free, memory)
    blocks = tuple((index, index, schedule_module.RAW) for index in range(len(chain)))
    shape = search.shape(blocks)
    search.recipe(shape)
    while shape.moves:
        move = data.draw(st.integers(0, len(shape.moves) - 1))
        _, first, last, cost, used, _ = shape.moves[move]
        blocks = (*blocks[: used[0]], (first, last, cost), *blocks[used[-1] + 1 :])
        shape = search.after(shape, move, blocks)
        derived = search.recipe(shape)
        fresh_search = schedule_module._Search(chain, 2, matrix_free, memory)
        fresh = fresh_search.shape(blocks)
        assert shape.origin is not None and fresh.origin is None
        assert dict(derived) == dict(fresh_search.recipe(fresh))
        assert search.least_work(shape) == fresh_search.least_work(fresh)


@pytest.mark.parametrize("matrix_free", [True, False])
def test_the_search_is_the_same_when_its_caches_keep_almost_nothing(monkeypatch, matrix_free):
    # The DP recipes and the bound's values are dropped past their caps (least recently used
    # recipes first): the search must find and prove the same schedule with room for one.
    chain = long_chain(12, seed=3)
    kept = exact_schedule(chain, 2, matrix_free, time_limit=60)
    monkeypatch.setattr(schedule_module, "RECIPE_CUTS_KEPT", 1)
    monkeypatch.setattr(schedule_module, "FINISHES_KEPT", 1)
    dropped = exact_schedule(chain, 2, matrix_free, time_limit=60)
    assert kept.exact and dropped.exact
    assert dropped.makespan == kept.makespan and dropped.tasks == kept.tasks


@settings(max_examples=10, deadline=None)
@given(chain=chains(4), machines=st.integers(2, 3), matrix_free=st.booleans())
def test_the_search_is_exact_with_times_beyond_int64(chain, machines, matrix_free):
    # Widths and costs scaled by 10**20: every time is past int64, where the search keeps its
    # dominance fronts as Python integers.
    s = 10**20
    huge = ElementalChain(
        tuple(
            Elemental(x.inputs * s, x.outputs * s, x.tangent_cost * s, x.adjoint_cost * s, 1) for x in chain.elementals
        )
    )
    schedule = exact_schedule(huge, machines, matrix_free)
    assert schedule.exact and schedule.makespan == least_makespan(huge, machines, matrix_free)


@settings(max_examples=15, deadline=None)
@given(chain=chains(6), memory=limits)
def test_makespans_fall_with_more_machines_within_their_bounds(chain, memory):
    previous = None
    floor = critical_path(chain, True, memory)
    for machines in (1, 2, 3, 4):
        schedule = exact_schedule(chain, machines, True, memory)
        assert schedule.exact
        assert schedule.makespan * machines >= schedule.work and schedule.makespan >= floor
        assert dp_heuristic(chain, machines, True, memory) >= schedule.makespan
        if previous is None:
            assert schedule.makespan == solve(chain, True, memory).cost == dp_heuristic(chain, 1, True, memory)
        else:
            assert schedule.makespan <= previous
        previous = schedule.makespan


def test_a_product_waits_for_its_operands_work_over_the_machines():
    # Three accumulations of 10 and two products of 1, on 2 machines. The least work over the
    # machines is 32 / 2 = 16 and the least critical path 10 + 1 + 1 = 12; but every plan ends
    # in a product whose operands hold the other 31 units of work, which 2 machines finish no
    # sooner than 15.5, so 16, and the product after them: 17. (The optimum is 21: three
    # tasks of 10 on two machines take 20 before the last product.)
    chain = ElementalChain((Elemental(1, 1, 10, 10, 0),) * 3)
    assert root_bound(chain, 2, False) == 17 and critical_path(chain, False) == 12
    assert exact_schedule(chain, 2, False).makespan == 21


@settings(max_examples=60, deadline=None)
@given(free=st.lists(st.integers(0, 50), min_size=1, max_size=5), work=st.integers(0, 200))
def test_filled_is_the_least_time_the_machines_can_do_the_work(free, work):
    free = tuple(sorted(free))
    least = next(t for t in itertools.count(free[0]) if sum(max(0, t - f) for f in free) >= work)
    assert filled(free)(work) == least


@settings(max_examples=15, deadline=None)
@given(chain=chains(6), machines=st.integers(1, 4), matrix_free=st.booleans(), seed=st.integers(0, 2**16))
def test_the_simulated_makespan_replays_the_schedule_and_shares_fewer_cores(chain, machines, matrix_free, seed):
    schedule = exact_schedule(chain, machines, matrix_free)
    tasks = schedule.tasks
    # With its own costs as durations and a core per machine, the replay is the optimum itself:
    # it starts every task as early as the assignment allows, so it can only match the least.
    assert schedule.exact and simulate(tasks, [float(t.cost) for t in tasks], machines) == schedule.makespan
    durations = [random.Random(seed + i).uniform(0.1, 3.0) for i in range(len(tasks))]
    alone = simulate(tasks, durations, machines)
    # One core runs whatever is runnable without a pause: the work, in any order.
    assert simulate(tasks, durations, machines, cores=1) == pytest.approx(sum(durations), rel=1e-9)
    for cores in range(1, machines + 1):
        shared = simulate(tasks, durations, machines, cores)
        assert shared >= alone * (1 - 1e-9) and shared * cores >= sum(durations) * (1 - 1e-9)
    assert simulate(tasks, durations, machines, cores=machines + 3) == alone


def test_a_replay_whose_task_waits_for_an_operand_never_made_is_an_error():
    # a product of [0..0] and [1..1] with only [0..0] made
    tasks = (Task(OpKind.ACC_TAN, 0, 0, 1, 0, 0, 1), Task(OpKind.MULTIPLY, 0, 1, 1, 0, 1, 2, split=0))
    with pytest.raises(RuntimeError, match=r"^a task waits for an operand that no task before it makes$"):
        simulate(tasks, [1.0, 1.0], 1)


def test_the_simulation_shares_the_cores_among_the_running_tasks():
    a = Task(OpKind.ACC_TAN, 0, 0, 1, machine=0, start=0, end=1)
    c = Task(OpKind.ACC_ADJ, 1, 1, 2, machine=0, start=1, end=3)
    b = Task(OpKind.TAN_ELIM, 0, 1, 1, machine=1, start=1, end=2)  # needs A's [0..0] made
    # Two cores: A, then B beside C. One core: A alone at full speed; B and C at half speed
    # until B is done at 3 (1 s of work in 2 s); C's last second alone: 4.
    assert simulate((a, c, b), [1.0, 2.0, 1.0], 2) == 3.0
    assert simulate((a, c, b), [1.0, 2.0, 1.0], 2, cores=1) == 4.0
    assert simulate((b, c, a), [1.0, 2.0, 1.0], 2, cores=1) == 4.0  # in any order of the tuple
    assert simulate((a, c, b), [math.inf, 2.0, 1.0], 2) == math.inf  # a task beyond any machine
    with pytest.raises(RuntimeError, match="operand"):
        simulate((b,), [1.0], 2)  # [0..0] is never made


@pytest.mark.parametrize("sizes", [(784, 512, 256, 10), (64, 128, 64, 10), (12, 3, 12)])
def test_a_networks_matrix_free_optimum_is_at_most_loss_first_plus_the_loss(sizes):
    spec = make_spec(sizes, activation="tanh")
    chain = network_chain(spec, "loss")
    assert chain.name == spec.label and [e.name for e in chain.elementals][-2:] == [f"L{len(sizes) - 1}", "loss"]
    loss_first = count_only(plan_orders(spec, ["loss-first"], "loss", "input", "op")).orders[0].macs
    assert solve(chain).cost <= loss_first + sizes[-1]
    assert pure_adjoint(chain).cost == loss_first + sizes[-1]


def feasible(schedule, chain, memory=None):
    """No machine runs two tasks at once; every task starts after the tasks making its operands,
    lasts its cost as the model prices it, and reverses only tapes within the memory."""
    e = chain.elementals
    for machine in range(schedule.machines):
        spans = sorted((t.start, t.end) for t in schedule.tasks if t.machine == machine)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    finish = {(t.first, t.last): t.end for t in schedule.tasks}
    for t in schedule.tasks:
        tape = None
        if t.kind == OpKind.MULTIPLY:
            needed = [(t.first, t.split), (t.split + 1, t.last)]
            cost = e[t.last].outputs * e[t.split].outputs * e[t.first].inputs
        elif t.kind == OpKind.TAN_ELIM:
            needed = [(t.first, t.last - 1)]
            assert t.through == t.last
            cost = e[t.first].inputs * e[t.last].tangent_cost
        elif t.kind == OpKind.ADJ_ELIM:
            needed = [(t.first + 1, t.last)]
            assert t.through == t.first
            cost, tape = e[t.last].outputs * e[t.first].adjoint_cost, e[t.first].tape
        else:
            needed = []
            assert t.first == t.last
            adjoint = t.kind == OpKind.ACC_ADJ
            cost = (
                e[t.first].outputs * e[t.first].adjoint_cost if adjoint else e[t.first].inputs * e[t.first].tangent_cost
            )
            tape = e[t.first].tape if adjoint else None
        assert t.end - t.start == t.cost == cost
        assert tape is None or not memory or tape <= memory
        assert all(finish[operand] <= t.start for operand in needed)
    assert (0, len(chain) - 1) in finish


@settings(max_examples=30, deadline=None)
@given(chain=chains(6), machines=st.integers(1, 4), matrix_free=st.booleans(), memory=limits)
def test_the_dp_heuristic_describes_a_feasible_schedule_of_its_value(chain, machines, matrix_free, memory):
    schedule = heuristic_schedule(chain, machines, matrix_free, memory)
    assert schedule.makespan == dp_heuristic(chain, machines, matrix_free, memory) and not schedule.exact
    feasible(schedule, chain, memory)
    exact = exact_schedule(chain, machines, matrix_free, memory, time_limit=2)
    feasible(exact, chain, memory)
    assert exact.makespan <= schedule.makespan
    listed = list_schedule(chain, solve(chain, matrix_free, memory), machines)  # the search's start
    feasible(listed, chain, memory)
    assert exact.makespan <= listed.makespan and not listed.exact
    assert heuristic_schedule(EXAMPLE, 2).makespan == 18


def test_the_heuristics_pull_back_through_several_elementals_is_one_step_each():
    # a scalar output: F3 by one adjoint (30), then its row pulled back through F2 and F1
    # (1200 + 2000), one elimination task per elemental
    chain = ElementalChain(
        (Elemental(50, 40, 2000, 2000, 1), Elemental(40, 30, 1200, 1200, 1), Elemental(30, 1, 30, 30, 1))
    )
    schedule = heuristic_schedule(chain, 2)
    feasible(schedule, chain)
    assert [(t.kind, t.first, t.last) for t in schedule.tasks] == [
        (OpKind.ACC_ADJ, 2, 2),
        (OpKind.ADJ_ELIM, 1, 2),
        (OpKind.ADJ_ELIM, 0, 2),
    ]
    assert schedule.makespan == 30 + 1200 + 2000 == dp_heuristic(chain, 2)


@settings(max_examples=40, deadline=None)
@given(chain=chains(5), machines=st.integers(1, 3), matrix_free=st.booleans(), memory=limits)
def test_the_critical_path_is_the_optimum_on_a_machine_per_elemental_and_the_root_bound_holds(
    chain, machines, matrix_free, memory
):
    # more machines than elementals can never all be busy, so there the least critical path is
    # the optimal makespan; the root bound lies between the work spread, that path and the optimum
    path = critical_path(chain, matrix_free, memory)
    wide = exact_schedule(chain, len(chain), matrix_free, memory)
    assert wide.exact and wide.makespan == path
    bound = root_bound(chain, machines, matrix_free, memory)
    optimum = exact_schedule(chain, machines, matrix_free, memory)
    assert optimum.exact
    assert max(path, -(-solve(chain, matrix_free, memory).cost // machines)) <= bound <= optimum.makespan


def long_chain(length, seed):
    """A random chain: widths 1..30, tangent and adjoint costs 1..99, tapes of 1."""
    rng = random.Random(seed)
    widths = [rng.randint(1, 30) for _ in range(length + 1)]
    return ElementalChain(
        tuple(Elemental(widths[i], widths[i + 1], rng.randint(1, 99), rng.randint(1, 99), 1) for i in range(length))
    )


def test_long_chains_get_a_schedule_no_worse_than_the_heuristic_and_a_bound():
    chain = long_chain(40, seed=4)
    result = analyze_chain(chain, ["matrix-free"], machines=3, time_limit=0.3).orders[0]
    assert result.schedule.makespan <= result.dp_heuristic
    assert result.schedule.lower_bound <= result.schedule.makespan
    feasible(result.schedule, chain)


def test_chains_past_the_search_still_get_a_lower_bound_and_the_critical_path():
    # Seventy elementals: past the search (its start comes back), but the root lower bound
    # and the least critical path are still worked out (they stopped at 64 before).
    chain = long_chain(70, seed=6)
    analysis = analyze_chain(chain, ["accumulate", "matrix-free"], machines=2, time_limit=1)
    assert analysis.critical_path == critical_path(chain)
    for result in analysis.orders:
        schedule = result.schedule
        assert 0 < schedule.lower_bound <= schedule.makespan and not schedule.exact
        assert schedule.lower_bound == root_bound(chain, 2, result.order.name == "matrix-free")


def test_chains_past_twenty_eight_elementals_are_searched():
    # Thirty-two elementals on 3 machines: the search betters the start (the optimal plan
    # list-scheduled, or JCDP's heuristic: 573) and proves its schedule optimal (569, in 2 s
    # here); before the search reached chains this long, the start came back with exact=False.
    chain = long_chain(32, seed=5)
    result = analyze_chain(chain, ["matrix-free"], machines=3, time_limit=60).orders[0]
    schedule = result.schedule
    start = min(list_schedule(chain, solve(chain), 3).makespan, result.dp_heuristic)
    assert schedule.exact and schedule.lower_bound == schedule.makespan < start
    feasible(schedule, chain)


@settings(max_examples=30, deadline=None)
@given(chain=chains(5), memory=st.integers(5, 60))
def test_an_analysis_on_machines_keeps_every_figure_within_the_memory_limit(chain, memory):
    # the plans, JCDP's heuristic, the exact schedules and the critical path all under the
    # limit the analysis was asked for (a limit no tape passes leaves no plan to schedule)
    analysis = analyze_chain(chain, None, memory, 2, time_limit=5)
    assert analysis.memory == memory and analysis.critical_path == critical_path(chain, True, memory)
    for result in analysis.orders:
        if result.schedule is None:
            continue
        matrix_free = result.order.name == "matrix-free"
        assert result.plan == solve(chain, matrix_free, memory)
        assert result.dp_heuristic == dp_heuristic(chain, 2, matrix_free, memory)
        assert result.schedule.exact
        assert result.schedule.makespan == exact_schedule(chain, 2, matrix_free, memory).makespan
        feasible(result.schedule, chain, memory)


def test_chains_past_the_search_keep_the_memory_limit_in_their_bound():
    # forty-five elementals whose adjoints are cheap, every other one's tape (3) over the limit (2)
    rng = random.Random(7)
    widths = [rng.randint(1, 30) for _ in range(46)]
    chain = ElementalChain(
        tuple(
            Elemental(widths[i], widths[i + 1], rng.randint(50, 99), rng.randint(1, 9), 1 + 2 * (i % 2))
            for i in range(45)
        )
    )
    result = analyze_chain(chain, ["matrix-free"], 2, 2, time_limit=1).orders[0]
    assert result.schedule.lower_bound == root_bound(chain, 2, True, 2) > root_bound(chain, 2, True)
    assert result.schedule.exact is (result.schedule.makespan <= result.schedule.lower_bound)
    feasible(result.schedule, chain, 2)


def test_a_start_that_meets_the_bound_past_the_search_is_exact():
    # on one machine the root bound is the least work, which the optimal plan's list schedule does
    chain = long_chain(45, seed=9)
    schedule = analyze_chain(chain, ["matrix-free"], machines=1).orders[0].schedule
    assert schedule.exact and schedule.makespan == schedule.lower_bound == solve(chain).cost


def test_chains_past_the_heuristic_are_scheduled_without_it():
    # past HEURISTIC_UP_TO (120) elementals JCDP's DP heuristic, and past BOUND_UP_TO (100) the
    # bound and the critical path, are left out: the plan's list schedule comes back
    chain = long_chain(121, seed=8)
    analysis = analyze_chain(chain, ["matrix-free"], machines=2)
    result = analysis.orders[0]
    assert result.dp_heuristic is None and analysis.critical_path is None
    assert result.schedule == replace(list_schedule(chain, result.plan, 2), exact=False, lower_bound=0)


@pytest.mark.parametrize(
    "memory, machines, message",
    [
        (-1, None, "--memory must be a non-negative integer (0: no limit), got -1"),
        (None, 0, "--machines must be a positive integer, got 0"),
    ],
)
def test_the_library_refuses_a_negative_limit_and_no_machines(memory, machines, message):
    with pytest.raises(JacchainError, match=re.escape(message)):
        analyze_chain(EXAMPLE, memory=memory, machines=machines)


def test_a_zero_limit_is_no_limit_and_one_machine_is_allowed():
    unlimited, zero = analyze_chain(EXAMPLE, machines=1), analyze_chain(EXAMPLE, memory=0, machines=1)
    assert [r.plan for r in zero.orders] == [r.plan for r in unlimited.orders]
    assert all(r.schedule is None or r.schedule.makespan == r.plan.cost for r in zero.orders)


@pytest.mark.parametrize(
    "config, machines, optimum, heuristic",
    [
        # JCDP's own outputs for its test chains (additionals/package/test/data/01 and 02 of
        # STCE-at-RWTH/Jacobian-Chaining): the makespan of bnb_bnb.json (the last task's start
        # plus its cost: 6,177,806 + 1,694,784 and 28,738,314 + 11,299,376), and of dp_none.json
        # (30,960,568 + 11,299,376) for the eleven-elemental chain.
        ("jcdp-chain7.yaml", 2, 6_177_806 + 1_694_784, None),
        ("jcdp-chain11.yaml", 3, 28_738_314 + 11_299_376, 30_960_568 + 11_299_376),
    ],
)
def test_jcdps_own_schedules_are_reproduced(config, machines, optimum, heuristic):
    from pathlib import Path

    from jacchain.chain.config import load_chain

    chain = load_chain(str(Path(__file__).parent.parent / "configs" / config))
    schedule = exact_schedule(chain, machines)
    assert schedule.exact and schedule.makespan == optimum
    if heuristic is not None:
        assert dp_heuristic(chain, machines) == heuristic


def windows():
    """Every run of 4 consecutive elementals of JCDP's two test chains, and one run of 5 of each:
    realistic costs with few ties, where a wrong pruning rule shows (one that did, an
    active-schedule rule applied with eliminations, fails 7 of these 14 windows)."""
    from pathlib import Path

    from jacchain.chain.config import load_chain

    found = []
    for name in ("jcdp-chain7.yaml", "jcdp-chain11.yaml"):
        chain = load_chain(str(Path(__file__).parent.parent / "configs" / name)).elementals
        spans = [(start, start + 4) for start in range(len(chain) - 3)] + [(2, 7)]
        found += [pytest.param(ElementalChain(chain[a:b]), id=f"{name}[{a}:{b}]") for a, b in spans]
    return found


@pytest.mark.parametrize("chain", windows())
def test_the_pruned_search_is_exact_on_windows_of_jcdps_chains(chain):
    for machines, matrix_free in itertools.product((2, 3, 4), (True, False)):
        schedule = exact_schedule(chain, machines, matrix_free)
        assert schedule.exact and schedule.makespan == least_makespan(chain, machines, matrix_free)


CONFIGS = Path(__file__).parent.parent / "configs"


@pytest.mark.parametrize(
    "spec, of",
    [
        (make_spec((784, 512, 256, 10)), "loss"),  # the reference: no identity of the input's width
        (make_spec((784, 512, 256, 10)), "output"),
        (make_spec((300,) * 7, activation="tanh"), "output"),
        (make_spec((20, 600, 30), activation="softmax"), "output"),  # a dense D_i kept by the model
        (make_spec((400, 50, 600), activation="tanh"), "output"),  # large results, compared
        ("jcdp-chain7.yaml", None),
        ("jcdp-chain11.yaml", None),
    ],
    ids=["784-loss", "784-output", "300x7-output", "softmax-output", "wide-output", "chain7", "chain11"],
)
def test_running_the_plans_allocates_no_more_than_the_modelled_memory(spec, of):
    # --max-memory admits a chain's run on run_memory, so the run must keep to it: traced by
    # tracemalloc from the model's setup to the last plan's comparison with the reference (256
    # KiB for Python's own objects), and not wildly under it (0.68-0.96 of it here)
    network = None if isinstance(spec, str) else spec
    chain = load_chain(str(CONFIGS / spec)) if network is None else network_chain(network, of)
    analysis = analyze_chain(chain, None, None, None, 10.0, "test", None)
    run_plans(analysis, network, of or "loss", None, 0, 1)  # what a first run sets up once, outside the count
    peak = measure_peak(lambda: run_plans(analysis, network, of or "loss", None, 0, 1))
    if network is None:
        modelled = run_memory(analysis, surrogate_footprint(chain), 8)
    else:
        modelled = run_memory(analysis, network_footprint(network, of), network.itemsize)
    assert isinstance(modelled, int) and modelled / 2 <= peak <= modelled + 256 * 1024


@pytest.mark.parametrize("machines", [1, 2, 3])
def test_running_the_schedules_allocates_no_more_than_the_modelled_memory(machines):
    # a schedule keeps every elimination step's result (a plan one per elimination), and its
    # worker threads must not hold the last run's results while the next run goes: together
    # these had taken this chain to 1.22x its modelled memory on 2 and 3 machines
    widths, costs = (
        [86, 20, 194, 242, 156, 199],
        [(1110, 1397), (307, 694), (39191, 29426), (35996, 3446), (2437, 5624)],
    )
    assert_surrogate_run_keeps_to_its_model(widths, costs, machines)


def assert_surrogate_run_keeps_to_its_model(widths, costs, machines):
    """A chain config's run (surrogates), traced from the model's setup on, against run_memory:
    at most 256 KiB past it (Python's own objects), and not wildly under it."""
    chain = ElementalChain(tuple(Elemental(n, m, t, a, 1) for n, m, (t, a) in zip(widths, widths[1:], costs)))
    analysis = analyze_chain(chain, None, None, machines, time_limit=1)
    run_plans(analysis, None, repeats=1)  # what a first run sets up once, outside the count
    peak = measure_peak(lambda: run_plans(analysis, None, repeats=1))
    modelled = run_memory(analysis, surrogate_footprint(chain), 8)
    assert modelled / 2 <= peak <= modelled + 256 * 1024


def no_scratch(index, tangent, vectors):
    return 0


@pytest.mark.parametrize(
    "order, memory, entries",
    [
        ("input-first", None, 4 * 3 + 3 * 3),  # acc_tan(F1): its 4 x 3 Jacobian, seeded with a 3 x 3 identity
        ("loss-first", None, 4 * 3 + 4 * 4),  # acc_adj(F1): the same Jacobian from a 4 x 4 identity
        ("loss-first", 2, 0),  # its tape (5) over the limit: no plan runs
    ],
)
def test_a_runs_modelled_memory_is_its_results_and_largest_seed(order, memory, entries):
    chain = ElementalChain((Elemental(3, 4, 5, 4, 5),))
    analysis = analyze_chain(chain, [order], memory)
    assert run_memory(analysis, Footprint(100, no_scratch), 8) == 8 * (100 + entries)


@pytest.mark.parametrize(
    "order, entries",
    [
        # acc_tan(F1): 4 x 3, seeded with a 3 x 3 identity. The surrogate's shape: c = 4 over
        # n + m = 7 is rank 0 with q = 2 and p = 2, a tangent pad of 1 (no full row), no adjoint
        # pad; a tangent on 3 columns holds the row (3), the 2 x 3 term and its two broadcast
        # operands (2 x 6): 21 entries
        ("input-first", 4 * 3 + 3 * 3 + 21),
        # acc_adj(F1): from a 4 x 4 identity; an adjoint on 4 rows: 4 + 2 x 4 + 2 x 8 = 28
        ("loss-first", 4 * 3 + 4 * 4 + 28),
    ],
)
def test_a_runs_modelled_memory_holds_its_evaluations_scratch(order, entries):
    chain = ElementalChain((Elemental(3, 4, 5, 4, 5),))
    footprint = surrogate_footprint(chain)
    assert run_memory(analyze_chain(chain, [order]), Footprint(0, footprint.scratch), 8) == 8 * entries
    # held throughout: its matrices (max(t, a) = 5 entries), and for the reference its 4 x 3
    # Jacobian with the 2 x 2 rank-one term added in, beside the product so far and the next
    # (2 x 3 x 4)
    assert footprint.fixed == 5 + (12 + 2 * 2) + 2 * 3 * 4


def test_an_accumulation_holds_its_seed_and_its_evaluations_scratch():
    # F1 (3 -> 4): by 3 tangents from a 3 x 3 identity, or by 4 adjoints from a 4 x 4 one, each
    # evaluation with its own direction's scratch (100 or 1,000 a vector); the result 4 x 3
    chain = ElementalChain((Elemental(3, 4, 5, 4, 5),))
    footprint = Footprint(0, lambda index, tangent, vectors: (100 if tangent else 1000) * vectors)
    assert run_memory(analyze_chain(chain, ["input-first"]), footprint, 1) == 12 + 9 + 300
    assert run_memory(analyze_chain(chain, ["loss-first"]), footprint, 1) == 12 + 16 + 4000


def test_an_elimination_through_several_elementals_holds_the_values_between_them():
    # widths 2, 3, 5, 7: input-first accumulates F1 (3 x 2, from a 2 x 2 identity), then
    # pushes its 2 columns through F2 and F3: F2 reads the 3 x 2 operand and makes a 5 x 2
    # value, F3 reads that and makes the 7 x 2 result. With scratch (index + 1) x vectors:
    # the accumulation holds 4 + 2, F2's step 10 + 4, F3's 10 + 6; results 6 + 14
    chain = ElementalChain((Elemental(2, 3, 6, 6, 1), Elemental(3, 5, 15, 15, 1), Elemental(5, 7, 35, 35, 1)))
    analysis = analyze_chain(chain, ["input-first"])
    assert [op.kind for op in analysis.orders[0].plan.operations] == [OpKind.ACC_TAN, OpKind.TAN_ELIM]
    footprint = Footprint(0, lambda index, tangent, vectors: (index + 1) * vectors)
    assert run_memory(analysis, footprint, 1) == 6 + 14 + 16
    # loss-first: F3 from a 7 x 7 identity (49 + 3 x 7 scratch), then its 7 rows back through
    # F2 (the 7 x 3 value made, 2 x 7 scratch) and F1 (that value read, 1 x 7 scratch); the
    # results 7 x 5 and 7 x 2
    analysis = analyze_chain(chain, ["loss-first"])
    assert run_memory(analysis, footprint, 1) == 7 * 5 + 7 * 2 + max(49 + 21, 21 + 14, 21 + 7)


@pytest.mark.parametrize("machines, entries", [(None, 70), (2, 80)])
def test_a_tangent_elimination_holds_its_steps_values_and_scratch(machines, entries):
    # widths 2, 3, 5, 7 with cheap tangents: matrix-free accumulates F1 (3 x 2 from a 2 x 2
    # identity, no scratch) and pushes its 2 columns through F2 (20 a column of scratch) and
    # F3 (5). The plan: results 6 + 14; F2's step makes the 5 x 2 value with 40 of scratch
    # (50), F3's reads it with 10 (20). The schedule keeps 6 + 10 + 14; its tasks hold 4, 40
    # (through F2, its last elemental) and 10, the two largest at once on two machines
    chain = ElementalChain((Elemental(2, 3, 1, 100, 1), Elemental(3, 5, 1, 100, 1), Elemental(5, 7, 1, 100, 1)))
    analysis = analyze_chain(chain, ["matrix-free"], None, machines)
    plan = analysis.orders[0].plan
    assert [(op.kind, op.through) for op in plan.operations] == [(OpKind.ACC_TAN, None), (OpKind.TAN_ELIM, (1, 2))]
    footprint = Footprint(0, lambda index, tangent, vectors: ({0: 0, 1: 20, 2: 5}[index] if tangent else 0) * vectors)
    assert run_memory(analysis, footprint, 1) == entries


@pytest.mark.parametrize(
    "activations, of, entries",
    [
        # 3 -> 4 -> 2: 26 parameters, the forward pass twice over (2 x 9), and the reference as
        # it is formed: one layer Jacobian with the row so far and the next (12 + 3 + 4)
        (["relu", "identity"], "loss", 26 + 18 + 19),
        # of the output: dz_1/dx (4 x 3), then J_2 (2 x 4) with the 4 x 3 product so far and
        # the 2 x 3 next: 8 + 12 + 6
        (["relu", "identity"], "output", 26 + 18 + 26),
        (["softmax", "identity"], "loss", 26 + 18 + 16 + 19),  # softmax's dense 4 x 4 D_1 kept
    ],
)
def test_a_networks_run_holds_its_parameters_forward_pass_and_reference(activations, of, entries):
    spec = make_spec((3, 4, 2), activations=activations)
    assert network_footprint(spec, of).fixed == entries


@pytest.mark.parametrize("machines, entries", [(None, 210), (2, 259)])
def test_an_adjoint_elimination_holds_its_steps_values_and_scratch(machines, entries):
    # widths 2, 3, 5, 7 with cheap adjoints: matrix-free pulls F3's Jacobian (7 x 5, from a
    # 7 x 7 identity, no scratch) back through F2 and F1, its 7 rows ending 7 x 2. Scratch 20
    # per row through F2, 5 through F1, none through F3.
    # The plan: results 35 + 14; the elimination holds the 7 x 3 value it makes with F2's 140
    # of scratch (161), then reads it with F1's 35 (56); the accumulation its 49: 49 + 161.
    # The schedule keeps each step's result (35 + 21 + 14); its tasks hold 49, 140 and 35,
    # and on two machines the two largest may run at once: 70 + 140 + 49
    chain = ElementalChain((Elemental(2, 3, 100, 1, 1), Elemental(3, 5, 100, 1, 1), Elemental(5, 7, 100, 1, 1)))
    analysis = analyze_chain(chain, ["matrix-free"], None, machines)
    plan = analysis.orders[0].plan
    assert [(op.kind, op.through) for op in plan.operations] == [(OpKind.ACC_ADJ, None), (OpKind.ADJ_ELIM, (0, 1))]
    footprint = Footprint(0, lambda index, tangent, vectors: (0 if tangent else {0: 5, 1: 20, 2: 0}[index]) * vectors)
    assert run_memory(analysis, footprint, 1) == entries


@pytest.mark.parametrize("machines, running", [(None, 1), (1, 1), (2, 2), (3, 2)])
def test_a_schedule_on_several_machines_holds_each_running_tasks_scratch(machines, running):
    # accumulate-then-multiply: F1 (2 -> 3) and F2 (3 -> 4) by tangents from 2 x 2 and 3 x 3
    # identities, each with 1,000 entries of scratch, then their product. Results 6 + 12 + 8;
    # on two machines or more both accumulations may run at once (three machines, two tasks)
    chain = ElementalChain((Elemental(2, 3, 6, 6, 1), Elemental(3, 4, 12, 12, 1)))
    analysis = analyze_chain(chain, ["accumulate"], None, machines)
    assert [op.kind for op in analysis.orders[0].plan.operations][:2] == [OpKind.ACC_TAN] * 2
    held = [4 + 1000, 9 + 1000][-running:]
    assert run_memory(analysis, Footprint(0, lambda index, tangent, vectors: 1000), 1) == 6 + 12 + 8 + sum(held)


@pytest.mark.parametrize("machines", [None, 1, 2, 3])
@pytest.mark.parametrize(
    "costs",
    [(100_000, 200), (200, 100_000), "mixed"],
    ids=["tangent-heavy", "adjoint-heavy", "mixed"],
)
def test_a_surrogates_scratch_and_drawing_stay_within_the_modelled_memory(machines, costs):
    # a surrogate's padding products (up to all its t - c entries again), the float64 draw of
    # its largest part, and its rank-one term's broadcast had taken these chains to 1.25x and
    # 1.53x their modelled memory; the mixed chain's third elemental costs 300x its tangent
    if costs == "mixed":
        widths = [19, 60, 65, 76]
        elementals = [(3420, 3420), (11700, 1170), (1482000, 1482)]
    else:
        widths, elementals = [10] * 5, [costs] * 4
    assert_surrogate_run_keeps_to_its_model(widths, elementals, machines)


@pytest.mark.parametrize("time_limit, said", [(0.5, " (searching up to 0.5 s)"), (math.inf, "")])
def test_the_progress_line_says_how_long_a_schedule_search_may_take(time_limit, said):
    lines = []
    chain = long_chain(6, seed=2)
    analyze_chain(chain, ["accumulate"], machines=2, time_limit=time_limit, progress=lambda *line: lines.append(line))
    assert ("scheduling accumulate on 2 machine(s)" + said, 0, 1) in lines
