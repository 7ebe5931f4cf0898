"""Plans: a computation over a chain's factors as a flat program of pairwise products."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """A computation as a flat program: step t multiplies two values into value n_factors + t.

    Values 0..n_factors-1 are the factors. A bracketing of one chain has one output, the
    last value; a parameter gradient has one output per layer and reuses cached rows.
    Steps are in evaluation order, which the cost model and the executor share.
    """

    n_factors: int
    steps: tuple[tuple[int, int], ...]
    outputs: tuple[int, ...] = ()

    @property
    def result(self) -> int:
        return self.n_factors + len(self.steps) - 1 if self.steps else 0

    @property
    def results(self) -> tuple[int, ...]:
        return self.outputs or (self.result,)

    def frees(self) -> list[tuple[int, ...]]:
        """For each step, the intermediates it uses for the last time (and that are no output)."""
        last_use: dict[int, int] = {}
        for step, operands in enumerate(self.steps):
            for value in operands:
                last_use[value] = step
        keep = set(self.results)
        freed: list[list[int]] = [[] for _ in self.steps]
        for value, step in last_use.items():
            if value >= self.n_factors and value not in keep:
                freed[step].append(value)
        return [tuple(sorted(values)) for values in freed]


class PlanBuilder:
    """Appends products to a program and hands back the value each one makes."""

    def __init__(self, n_factors: int) -> None:
        self.n_factors = n_factors
        self.steps: list[tuple[int, int]] = []

    def multiply(self, left: int, right: int) -> int:
        self.steps.append((left, right))
        return self.n_factors + len(self.steps) - 1

    def plan(self, outputs: tuple[int, ...] = ()) -> Plan:
        return Plan(self.n_factors, tuple(self.steps), outputs)


def bracketing(plan: Plan, names: list[str]) -> str:
    """Write a plan with parentheses, e.g. "((g J3) (J2 J1))".

    >>> bracketing(Plan(4, ((2, 3), (1, 4), (0, 5))), ["g", "J3", "J2", "J1"])
    '(g (J3 (J2 J1)))'
    """
    return "; ".join(_written(plan, names, value) for value in plan.results)


def _written(plan: Plan, names: list[str], value: int) -> str:
    """One value's bracketing, written left to right in one pass: pieces joined once, so a
    chain of n factors takes O(n), not the O(n^2) of nesting ever longer strings."""
    pieces: list[str] = []
    pending: list[int | str] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            pieces.append(item)
        elif item < plan.n_factors:
            pieces.append(names[item])
        else:
            left, right = plan.steps[item - plan.n_factors]
            pending += [")", right, " ", left, "("]
    return "".join(pieces)


def spans(plan: Plan) -> list[tuple[int, int]]:
    """The factor range [first, last] that each value covers (factors, then steps)."""
    covered = [(index, index) for index in range(plan.n_factors)]
    for left, right in plan.steps:
        covered.append((covered[left][0], covered[right][1]))
    return covered
