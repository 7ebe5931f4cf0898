"""The article's sums written out term by term for a spec, and why the optimal order wins."""

from __future__ import annotations

from dataclasses import dataclass

from ..chain.factors import Chain, build_chain
from ..chain.plan import Plan, bracketing, spans
from ..cost.plan_cost import PlanCost, plan_cost
from ..cost.product import product_kind
from ..cost.ratio import count_ratio, ratio_text
from ..cost.tree import TreeNode, plan_tree
from ..model.spec import NetworkSpec
from ..planners.orders import ORDERS
from ..types import FactorKind, Granularity, Of, Structure, Wrt


@dataclass(frozen=True)
class Term:
    """One product of an order: what is multiplied, its cost as symbols and as numbers."""

    left: str
    right: str
    symbols: str
    numbers: str
    macs: int
    flops: int
    shape: tuple[int, int]


@dataclass(frozen=True)
class OrderSum:
    name: str
    article_word: str
    ad_name: str
    bracketing: str
    terms: tuple[Term, ...]
    cost: PlanCost


@dataclass(frozen=True)
class FactorMeaning:
    name: str
    meaning: str
    shape: tuple[int, int]
    structure: Structure


@dataclass(frozen=True)
class Explanation:
    spec: NetworkSpec
    chain: Chain
    factor_meanings: tuple[FactorMeaning, ...]
    sums: tuple[OrderSum, ...]
    tree: TreeNode | None
    reason: str


def boundary_symbols(chain: Chain) -> list[str]:
    """The symbol of every dimension p_0..p_n of the chain: 1, |z_i| or |x|."""

    def width(layer: int) -> str:
        return "|x|" if layer == 0 else f"|z{layer}|"

    symbols = []
    for position, factor in enumerate(chain.factors):
        kind, layer = factor.kind, factor.layer
        if position == 0:
            symbols.append("1" if kind == FactorKind.LOSS else width(layer))
        symbols.append(width(layer) if kind in (FactorKind.LOSS, FactorKind.ACTIVATION) else width(layer - 1))
    return symbols


def factor_meaning(chain: Chain) -> list[FactorMeaning]:
    meanings = []
    for factor in chain.factors:
        layer = factor.layer
        below = "x" if layer == 1 else f"z{layer - 1}"
        meaning = {
            FactorKind.LOSS: f"dl/dz{layer}",
            FactorKind.LAYER: f"dz{layer}/d{below}",
            FactorKind.WEIGHT: f"da{layer}/d{below} = W{layer}",
            FactorKind.ACTIVATION: f"dz{layer}/da{layer}",
            FactorKind.PARAMS: f"dz{layer}/dtheta{layer}",
        }[factor.kind]
        meanings.append(FactorMeaning(factor.name, meaning, factor.shape, factor.structure))
    return meanings


def order_terms(plan: Plan, chain: Chain) -> tuple[Term, ...]:
    """Each step of a plan as the article writes its cost: 1*|z3|*|z2| = 1*10*256 = 2,560."""
    symbols = boundary_symbols(chain) if chain.wrt == "input" else None
    covered = spans(plan) if symbols else None
    text = list(chain.names)
    terms = []
    for (left, right), count in zip(plan.steps, plan_cost(plan, chain).products):
        (m, n), (_, k) = count.left, count.right
        # The MAC count's factors, by the product rule: m*n*k dense, m*k with a diagonal or
        # Kronecker operand, m for an elementwise product.
        which = product_kind(count.left_structure, count.right_structure).dims
        numbers = [(m, n, k)[index] for index in which]
        if covered and symbols:
            bounds = (covered[left][0], covered[right][0], covered[right][1] + 1)
            symbolic = "*".join(symbols[bounds[index]] for index in which)
        else:
            symbolic = "*".join(map(str, numbers))
        terms.append(
            Term(text[left], text[right], symbolic, "*".join(map(str, numbers)), count.macs, count.flops, (m, k))
        )
        text.append(f"({text[left]} {text[right]})")
    return tuple(terms)


def why_optimal(chain: Chain, sums: dict[str, OrderSum], plan: Plan) -> str:
    """One sentence on where the chain narrows and how the optimal order uses it."""
    optimal, loss_first, input_first = sums["optimal"], sums["loss-first"], sums["input-first"]
    dims, symbols = chain.dims, boundary_symbols(chain) if chain.wrt == "input" else None
    if chain.wrt == "params":
        return (
            "Every factor meets a single cached row (dl/dz_i), so each is touched once; input-first instead "
            "pushes one tangent per parameter through every later layer."
        )
    if optimal.cost.flops == loss_first.cost.flops and chain.of == "loss":
        return (
            f"The chain starts with g, a single row (1 x {dims[1]}): starting from that end keeps every "
            "intermediate one row wide, so each Jacobian is touched once; that is backpropagation."
        )
    if not plan.steps:
        return "The chain has a single factor; there is nothing to multiply."
    _, root_right = plan.steps[-1]
    cut = spans(plan)[root_right][0]
    narrow = dims[cut]
    inner = min(range(1, len(dims) - 1), key=lambda index: dims[index])
    where = f"{symbols[cut]} = {narrow}" if symbols else f"width {narrow}"
    saving = _saving(optimal, loss_first, input_first)
    if dims[inner] == narrow and dims[inner] < min(dims[0], dims[-1]):
        return (
            f"The chain narrows to {where} in the middle: the optimal order multiplies each side towards "
            f"that bottleneck and joins them last, so no intermediate carries a full {dims[0]} x {dims[-1]} "
            f"block until the end; {saving}."
        )
    return f"Its last product joins the two halves across {where}; {saving}."


def _saving(optimal: OrderSum, loss_first: OrderSum, input_first: OrderSum) -> str:
    """What the optimal order saves over the cheaper classic order, or which classic order is
    already as cheap (a ratio of 1.00x "fewer" FLOPs says nothing)."""
    same = [order.name for order in (loss_first, input_first) if order.cost.flops == optimal.cost.flops]
    if len(same) == 2:
        return "every order costs the same here"
    if same:
        return f"{same[0]} costs the same here, so the optimal order saves nothing over it"
    cheaper = min(loss_first.cost.flops, input_first.cost.flops)
    return f"{ratio_text(count_ratio(cheaper, optimal.cost.flops))} fewer FLOPs than the cheaper classic order"


def explain(
    spec: NetworkSpec,
    of: Of = "loss",
    granularity: Granularity = "layer",
    wrt: Wrt = "input",
    max_tree_factors: int = 40,
) -> Explanation:
    chain = build_chain(spec, of, granularity, wrt)
    sums: dict[str, OrderSum] = {}
    plans: dict[str, Plan] = {}
    for name in ORDERS:
        order = ORDERS.get(name)
        plan = order.build(chain, None)
        plans[name] = plan
        sums[name] = OrderSum(
            order.name,
            order.article_word,
            order.ad_name,
            bracketing(plan, chain.names),
            order_terms(plan, chain),
            plan_cost(plan, chain),
        )
    optimal = plans["optimal"]
    tree = plan_tree(optimal, chain) if wrt == "input" and len(chain) <= max_tree_factors else None
    return Explanation(
        spec, chain, tuple(factor_meaning(chain)), tuple(sums.values()), tree, why_optimal(chain, sums, optimal)
    )
