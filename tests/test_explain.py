"""`jacchain explain` as a newcomer reads it: the article's sums with this network's numbers."""

import json

from click.testing import CliRunner

from jacchain.cli import cli


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
