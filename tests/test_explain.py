"""`jacchain explain` as a newcomer reads it: the article's sums with this network's numbers."""

import json

import pytest
from click.testing import CliRunner

from jacchain.cli import cli
from jacchain.jobs.explain import explain
from jacchain.model.spec import make_spec


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_the_article_sums_written_out_term_by_term():
    result = invoke("explain", "784,512,256,10")
    assert result.exit_code == 0, result.output
    out = result.output
    for line in (
        "1*|z3|*|z2|",
        "1*10*256",
        "2,560",
        "1*|z2|*|z1|",
        "1*256*512",
        "131,072",
        "1*|z1|*|x|",
        "1*512*784",
        "401,408",
        "|z2|*|z1|*|x|",
        "256*512*784",
        "102,760,448",
        "535,040 MACs = 1,070,080 FLOPs",
        "104,775,328 MACs = 209,550,656 FLOPs",
        "input-first performs 195.8x the FLOPs of loss-first",
        "forwards",
        "backwards",
    ):
        assert line in out, line
    assert "J1   = dz1/dx" in out and "g    = dl/dz3" in out
    assert "single row" in out and "backpropagation" in out


def test_each_order_is_headed_by_its_whole_bracketing_on_one_line_however_narrow_its_sums():
    # a two-factor chain's sums are narrower than its heading; the heading had been the sums'
    # table title, which rich wraps at the table's width: "(g" on one line, "J1)" on the next
    result = invoke("explain", "2,3")
    assert result.exit_code == 0, result.output
    headings = [line for line in result.output.splitlines() if "(article:" in line]
    assert [line.split("(")[0].strip() for line in headings] == ["loss-first", "input-first", "optimal"]
    assert all(line.endswith("): (g J1)") for line in headings), headings


def test_the_optimal_tree_and_why_for_the_autoencoder():
    result = invoke("explain", "784,256,8,256,784", "--of", "output", "--activation", "tanh")
    out = result.output
    assert "784x784 ((J4 J3) (J2 J1))" in out and "784x8 (J4 J3)" in out and "8x784 (J2 J1)" in out
    assert "|z4|*|z2|*|x|" in out and "784*8*784" in out
    assert "narrows to |z2| = 8" in out and "19.8x fewer FLOPs" in out


def test_json_terms_add_up_to_each_total():
    data = json.loads(invoke("explain", "30,20,10,5", "--format", "json", "--granularity", "op").output)
    for order in data["orders"].values():
        assert sum(term["macs"] for term in order["terms"]) == order["macs"]
        for term in order["terms"]:
            product = 1
            for number in term["numbers"].split("*"):
                product *= int(number)
            assert product == term["macs"]
    assert data["optimal_tree"]["children"]


def test_markdown_and_csv():
    markdown = invoke("explain", "784,512,256,10", "--format", "markdown").output
    assert "| `g J3` | 1*\\|z3\\|*\\|z2\\| | 1*10*256 | 2,560 |" in markdown
    csv_text = invoke("explain", "784,512,256,10", "--format", "csv").output
    assert csv_text.splitlines()[1] == "loss-first,g,J3,1*|z3|*|z2|,1*10*256,2560,5120"


def test_explain_params_and_errors():
    result = invoke("explain", "20,10,5", "--wrt", "params")
    assert result.exit_code == 0 and "dl/dtheta" in result.output and "P1" in result.output
    bad = invoke("explain", "20,x,5")
    assert (
        bad.exit_code == 2 and bad.output.strip() == "Error: spec '20,x,5': width 2 must be a positive integer, got 'x'"
    )


def meanings(sizes, **choice):
    return [(m.name, m.meaning, m.shape, m.structure.name) for m in explain(make_spec(sizes), **choice).factor_meanings]


def test_each_factor_says_which_derivative_it_is():
    assert meanings((8, 6, 4, 3)) == [
        ("g", "dl/dz3", (1, 3), "DENSE"),
        ("J3", "dz3/dz2", (3, 4), "DENSE"),
        ("J2", "dz2/dz1", (4, 6), "DENSE"),
        ("J1", "dz1/dx", (6, 8), "DENSE"),
    ]
    # one layer's W and D apart; the parameters' factors, |z_i| x (|z_i-1| + 1) |z_i|, Kronecker
    assert meanings((8, 6, 4, 3), granularity="op", wrt="params")[1:3] == [
        ("W3", "da3/dz2 = W3", (3, 4), "DENSE"),
        ("D2", "dz2/da2", (4, 4), "DIAGONAL"),
    ]
    assert meanings((8, 6, 4, 3), granularity="op", wrt="params")[-3:] == [
        ("P3", "dz3/dtheta3", (3, 15), "KRON"),
        ("P2", "dz2/dtheta2", (4, 28), "KRON"),
        ("P1", "dz1/dtheta1", (6, 54), "KRON"),
    ]


def test_each_term_is_written_in_the_chain_s_widths_and_in_numbers():
    sums = {s.name: s for s in explain(make_spec((8, 6, 4, 3)), granularity="op").sums}
    loss_first = sums["loss-first"]
    assert (loss_first.ad_name, sums["input-first"].ad_name) == ("reverse mode (VJP)", "forward mode (JVP)")
    # a dense product m*n*k, a diagonal one m*k; the row stays 1 wide
    assert [(t.left, t.right, t.symbols, t.numbers, t.macs, t.shape) for t in loss_first.terms] == [
        ("g", "W3", "1*|z3|*|z2|", "1*3*4", 12, (1, 4)),
        ("(g W3)", "D2", "1*|z2|", "1*4", 4, (1, 4)),
        ("((g W3) D2)", "W2", "1*|z2|*|z1|", "1*4*6", 24, (1, 6)),
        ("(((g W3) D2) W2)", "D1", "1*|z1|", "1*6", 6, (1, 6)),
        ("((((g W3) D2) W2) D1)", "W1", "1*|z1|*|x|", "1*6*8", 48, (1, 8)),
    ]
    # towards the parameters, the widths have no one symbol: the numbers stand for themselves
    params = {s.name: s for s in explain(make_spec((8, 6, 4, 3)), wrt="params").sums}["loss-first"]
    assert [(t.symbols, t.numbers) for t in params.terms][:2] == [("1*3*15", "1*3*15"), ("1*3*4", "1*3*4")]


@pytest.mark.parametrize(
    "sizes, choice, reason",
    [
        (
            (8, 6, 4, 3),
            {},
            "The chain starts with g, a single row (1 x 3): starting from that end keeps every intermediate one row "
            "wide, so each Jacobian is touched once; that is backpropagation.",
        ),
        (
            (8, 6, 4, 3),
            {"wrt": "params"},
            "Every factor meets a single cached row (dl/dz_i), so each is touched once; input-first instead pushes "
            "one tangent per parameter through every later layer.",
        ),
        ((8, 4), {"of": "output"}, "The chain has a single factor; there is nothing to multiply."),
        # (J4 J3)(J2 J1): 3 x 64*64*4 MACs, against 2 x 64*64*4 + 64**3 either way round: 6x
        (
            (64, 64, 4, 64, 64),
            {"of": "output"},
            "The chain narrows to |z2| = 4 in the middle: the optimal order multiplies each side towards that "
            "bottleneck and joins them last, so no intermediate carries a full 64 x 64 block until the end; "
            "6.00x fewer FLOPs than the cheaper classic order.",
        ),
        # narrowest at the output end: starting there (loss-first) is already optimal
        (
            (8, 64, 64, 64, 4),
            {"of": "output"},
            "Its last product joins the two halves across |z1| = 64; loss-first costs the same here, so the "
            "optimal order saves nothing over it.",
        ),
        (
            (4, 64, 64, 64, 8),
            {"of": "output"},
            "Its last product joins the two halves across |z3| = 64; input-first costs the same here, so the "
            "optimal order saves nothing over it.",
        ),
        # two factors: one product, whichever order
        (
            (16, 4, 16),
            {"of": "output"},
            "The chain narrows to |z1| = 4 in the middle: the optimal order multiplies each side towards that "
            "bottleneck and joins them last, so no intermediate carries a full 16 x 16 block until the end; "
            "every order costs the same here.",
        ),
    ],
)
def test_why_the_optimal_order_wins_in_one_sentence(sizes, choice, reason):
    assert explain(make_spec(sizes), **choice).reason == reason


def test_the_tree_is_drawn_up_to_its_factor_limit_and_never_towards_the_parameters():
    spec = make_spec((8, 6, 4, 3))  # g, J3, J2, J1: four factors
    assert explain(spec, max_tree_factors=4).tree is not None
    assert explain(spec, max_tree_factors=3).tree is None
    assert explain(spec).tree is not None and explain(spec, wrt="params").tree is None
