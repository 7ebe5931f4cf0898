"""`jacchain check`: the committed baseline, changed/added/removed configs, bad baselines."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from jacchain.cli import cli
from jacchain.errors import JacchainError
from jacchain.jobs.regress import check, load_named

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
BASELINE = ROOT / "configs" / "flops-baseline.json"
LAYER = "of=loss,wrt=input,granularity=layer"


def baseline_of(settings, configs):
    return json.dumps({"schema_version": 1, "settings": settings, "configs": configs})


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def workspace(tmp_path):
    """A copy of the shipped configs and baseline that a test may change."""
    for path in CONFIGS:
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(BASELINE, tmp_path / BASELINE.name)
    return tmp_path


def configs_in(folder):
    return sorted(folder.glob("*.yaml"))


def test_the_committed_baseline_matches_the_shipped_configs():
    result = invoke("check", *CONFIGS, "--baseline", BASELINE)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"FLOP counts match {BASELINE}: {len(CONFIGS)} config(s), every order and setting"


def test_a_changed_width_fails_with_a_table_of_what_changed(workspace):
    seed = workspace / "seed.yaml"
    seed.write_text(seed.read_text().replace("width: 256", "width: 300"))
    result = invoke(
        "check", *configs_in(workspace), "--baseline", workspace / "flops-baseline.json", "--format", "json"
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert not data["ok"] and {c["config"] for c in data["changes"]} == {"seed.yaml"}
    change = next(
        c
        for c in data["changes"]
        if c["setting"] == "of=loss,wrt=input,granularity=layer" and c["order"] == "loss_first" and c["field"] == "macs"
    )
    # Independently: the article's loss-first sum with n2 = 256, then with n2 = 300.
    assert change["baseline"] == 10 * 256 + 256 * 512 + 512 * 784
    assert change["now"] == 10 * 300 + 300 * 512 + 512 * 784
    assert change["difference"] == (300 - 256) * (10 + 512)
    assert change["change_percent"] == pytest.approx((change["now"] - change["baseline"]) / change["baseline"] * 100)


def test_a_change_of_one_flop_is_shown_exactly_not_rounded_away(workspace):
    baseline = workspace / "flops-baseline.json"
    stored = json.loads(baseline.read_text())
    entry = stored["configs"]["seed.yaml"]["of=loss,wrt=input,granularity=layer"]["loss_first"]
    entry["flops"] += 1  # the baseline one FLOP above the count: a change of about one in a million
    baseline.write_text(json.dumps(stored))
    result = invoke("check", workspace / "seed.yaml", "--baseline", baseline)
    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if "loss_first" in line and "flops" in line)
    assert f"{entry['flops']:,}" in row and f"{entry['flops'] - 1:,}" in row and "-1 (-<0.01%)" in row


def test_a_count_that_was_zero_is_a_change_with_no_percentage(workspace):
    # a change from 0 has an exact difference and no percentage (not a division by zero)
    baseline = workspace / "flops-baseline.json"
    stored = json.loads(baseline.read_text())
    entry = stored["configs"]["seed.yaml"]["of=loss,wrt=input,granularity=layer"]["loss_first"]
    now, entry["macs"] = entry["macs"], 0
    baseline.write_text(json.dumps(stored))
    result = invoke("check", workspace / "seed.yaml", "--baseline", baseline, "--format", "json")
    assert result.exit_code == 1, result.output
    (change,) = json.loads(result.output)["changes"]
    assert change["baseline"] == 0 and change["now"] == change["difference"] == now
    assert change["change_percent"] is None


def test_some_configs_checked_against_the_whole_baseline_pass(workspace):
    # the other entries are neither changes nor removals while their config files exist
    result = invoke("check", workspace / "seed.yaml", "--baseline", workspace / "flops-baseline.json")
    assert result.exit_code == 0, result.output
    assert "1 config(s)" in result.output


def test_markdown_report_for_a_pull_request(workspace):
    seed = workspace / "seed.yaml"
    seed.write_text(seed.read_text().replace("width: 512", "width: 500"))
    result = invoke(
        "check", *configs_in(workspace), "--baseline", workspace / "flops-baseline.json", "--format", "markdown"
    )
    assert result.exit_code == 1
    assert result.output.startswith("**jacchain check**: FLOP counts differ")
    assert "| seed.yaml | of=loss,wrt=input,granularity=layer | input_first | flops |" in result.output


def test_added_and_removed_configs_are_reported(workspace):
    (workspace / "deep-narrow.yaml").unlink()
    shutil.copy(workspace / "seed.yaml", workspace / "seed-copy.yaml")
    result = invoke(
        "check", *configs_in(workspace), "--baseline", workspace / "flops-baseline.json", "--format", "json"
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["added"] == ["seed-copy.yaml"] and data["removed"] == ["deep-narrow.yaml"]
    # the configs after the added one (it sorts before seed.yaml) are still compared
    assert data["changes"] == [] and data["compared"] == len(configs_in(workspace)) - 1


def test_an_order_setting_or_field_on_one_side_only_is_a_change(workspace):
    # a new order, field or setting of the tool shows up as a change from nothing, and one
    # the tool no longer counts as a change to nothing: neither passes silently
    baseline = workspace / "flops-baseline.json"
    data = json.loads(baseline.read_text())
    seed = data["configs"]["seed.yaml"]
    layer, op = "of=loss,wrt=input,granularity=layer", "of=loss,wrt=input,granularity=op"
    loss_first = seed[layer].pop("loss_first")
    seed[layer]["input_first"].pop("peak_bytes")
    seed[layer]["made_up"] = {"macs": 1}
    ops = seed.pop(op)
    baseline.write_text(json.dumps(data))
    result = invoke("check", workspace / "seed.yaml", "--baseline", baseline, "--format", "json")
    assert result.exit_code == 1
    found = {
        (c["setting"], c["order"], c["field"]): (c["baseline"], c["now"]) for c in json.loads(result.output)["changes"]
    }
    now = {(layer, "input_first", "peak_bytes"): (None, data_of(workspace, layer, "input_first")["peak_bytes"])}
    now |= {(layer, "loss_first", name): (None, value) for name, value in loss_first.items()}
    now |= {(layer, "made_up", "macs"): (1, None)}
    now |= {(op, order, name): (None, value) for order, fields in ops.items() for name, value in fields.items()}
    assert found == now


def data_of(workspace, setting, order):
    """The shipped baseline's counts of seed.yaml (what the tool counts now)."""
    return json.loads(BASELINE.read_text())["configs"]["seed.yaml"][setting][order]


def test_checking_without_update_writes_nothing(workspace):
    # the library's default, as the command's: a drifted config is reported, the file left alone
    seed = workspace / "seed.yaml"
    seed.write_text(seed.read_text().replace("width: 256", "width: 300"))
    baseline = workspace / "flops-baseline.json"
    before = baseline.read_bytes()
    result = check(load_named([str(seed)], str(baseline)), str(baseline))
    assert result.changes and not result.updated and baseline.read_bytes() == before
    with pytest.raises(JacchainError, match=r"^--prune rewrites the baseline: give it together with --update$"):
        check(load_named([str(seed)], str(baseline)), str(baseline), prune=True)


def test_update_rewrites_the_baseline_stably_and_then_it_passes(workspace):
    baseline = workspace / "flops-baseline.json"
    seed = workspace / "seed.yaml"
    seed.write_text(seed.read_text().replace("width: 256", "width: 128"))
    assert invoke("check", *configs_in(workspace), "--baseline", baseline, "--update").exit_code == 0
    text = baseline.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert invoke("check", *configs_in(workspace), "--baseline", baseline).exit_code == 0
    # Re-running --update on unchanged counts leaves the file byte for byte the same.
    assert invoke("check", *configs_in(workspace), "--baseline", baseline, "--update").exit_code == 0
    assert baseline.read_text() == text


def test_inline_specs_can_be_checked_too(tmp_path):
    baseline = tmp_path / "b.json"
    assert invoke("check", "784,512,10", "--baseline", baseline, "--update").exit_code == 0
    assert "784,512,10" in json.loads(baseline.read_text())["configs"]
    assert invoke("check", "784,512,10", "--baseline", baseline).exit_code == 0


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "{not json",
            "is corrupt: Expecting property name enclosed in double quotes at line 1; "
            "restore it from version control or rewrite it with --update after deleting it",
        ),
        ('{"schema_version": 7}', "is corrupt: expected an object with schema_version 1"),
        (
            '{"schema_version": 1, "settings": ["of=loss,wrt=input,granularity=layer"], '
            '"configs": {"a": {"s": {"o": {"flops": "many"}}}}}',
            "is corrupt: a / s / o: counts must be integers",
        ),
        ('{"schema_version": 1, "settings": [], "configs": {}}', "is corrupt: its settings list is empty"),
        (
            '{"schema_version": 1, "settings": {}, "configs": {}}',
            "is corrupt: expected keys 'settings' (a list) and 'configs' (an object)",
        ),
        (
            baseline_of([LAYER, LAYER], {}),
            "is corrupt: a setting is listed twice",
        ),
        ('{"schema_version": 1, "settings": [7], "configs": {}}', "is corrupt: setting 7 is not a string"),
        (
            '{"schema_version": 1, "settings": ["of:loss"], "configs": {}}',
            "is corrupt: baseline setting 'of:loss' is not of the form of=...,wrt=...,granularity=...",
        ),
        (
            '{"schema_version": 1, "settings": ["of=loss"], "configs": {}}',
            "is corrupt: baseline setting 'of=loss' must name of, wrt and granularity",
        ),
        (
            '{"schema_version": 1, "settings": ["of=loss,wrt=input,granularity=layers"], "configs": {}}',
            "is corrupt: baseline setting 'of=loss,wrt=input,granularity=layers': unknown granularity 'layers'; "
            "valid options are: layer, op",
        ),
        (
            baseline_of([LAYER], {"a": 1}),
            "is corrupt: config 'a' is not an object",
        ),
        (
            baseline_of([LAYER], {"a": {"s": 1}}),
            "is corrupt: a / s is not an object",
        ),
        ("[" * 100_000 + "]" * 100_000, "is corrupt: nested too deeply"),
    ],
)
def test_a_corrupt_baseline_exits_2_and_is_left_as_it_was(tmp_path, content, message):
    baseline = tmp_path / "flops-baseline.json"
    baseline.write_text(content)
    for extra in ([], ["--update"]):
        result = invoke("check", ROOT / "configs/seed.yaml", "--baseline", baseline, *extra)
        assert result.exit_code == 2
        assert message in result.output and "Traceback" not in result.output
        assert baseline.read_text() == content
    assert [p.name for p in tmp_path.iterdir()] == ["flops-baseline.json"]


def test_a_missing_baseline_exits_2_with_a_hint(tmp_path):
    result = invoke("check", ROOT / "configs/seed.yaml", "--baseline", tmp_path / "none.json")
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: baseline {tmp_path / 'none.json'} not found; create it with --update"
    assert not (tmp_path / "none.json").exists()


def entries(baseline):
    return set(json.loads(baseline.read_text())["configs"])


def test_update_of_some_configs_keeps_every_other_entry(workspace):
    baseline = workspace / "flops-baseline.json"
    before = json.loads(baseline.read_text())["configs"]
    seed = workspace / "seed.yaml"
    seed.write_text(seed.read_text().replace("width: 256", "width: 128"))
    result = invoke("check", seed, "--baseline", baseline, "--update", "--format", "json")
    assert result.exit_code == 0, result.output
    after = json.loads(baseline.read_text())["configs"]
    assert set(after) == set(before) and len(after) == len(CONFIGS)
    assert {name: after[name] for name in after if name != "seed.yaml"} == {
        name: before[name] for name in before if name != "seed.yaml"
    }
    assert after["seed.yaml"] != before["seed.yaml"]
    assert sorted(json.loads(result.output)["kept"]) == sorted(set(before) - {"seed.yaml"})


def test_configs_of_one_name_in_two_folders_are_two_entries(tmp_path):
    for folder, widths in (("a", 4), ("b", 5)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "net.yaml").write_text(
            f"name: net\ninput: {widths}\nlayers: [{{width: 3}}, {{width: 2}}]\n"
        )
    baseline = tmp_path / "baseline.json"
    configs = [tmp_path / "a" / "net.yaml", tmp_path / "b" / "net.yaml"]
    assert invoke("check", *configs, "--baseline", baseline, "--update").exit_code == 0
    assert entries(baseline) == {"a/net.yaml", "b/net.yaml"}
    assert invoke("check", *configs, "--baseline", baseline).exit_code == 0


def test_entries_of_deleted_configs_stay_until_pruned(workspace):
    baseline = workspace / "flops-baseline.json"
    (workspace / "deep-narrow.yaml").unlink()
    assert invoke("check", *configs_in(workspace), "--baseline", baseline, "--update").exit_code == 0
    assert "deep-narrow.yaml" in entries(baseline)
    assert invoke("check", *configs_in(workspace), "--baseline", baseline).exit_code == 1
    assert invoke("check", *configs_in(workspace), "--baseline", baseline, "--prune").exit_code == 2
    result = invoke("check", *configs_in(workspace), "--baseline", baseline, "--update", "--prune")
    assert result.exit_code == 0 and "1 pruned" in result.output
    assert "deep-narrow.yaml" not in entries(baseline)
    assert invoke("check", *configs_in(workspace), "--baseline", baseline).exit_code == 0


def test_a_read_only_baseline_is_refused_and_left_alone(workspace):
    baseline = workspace / "flops-baseline.json"
    text = baseline.read_text()
    baseline.chmod(0o444)
    result = invoke("check", *configs_in(workspace), "--baseline", baseline, "--update")
    assert result.exit_code == 2 and "read-only" in result.output
    assert baseline.read_text() == text and baseline.stat().st_mode & 0o777 == 0o444


def test_concurrent_updates_of_one_baseline_lose_no_entry(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from jacchain.jobs.regress import check, load_named

    baseline = str(tmp_path / "baseline.json")
    specs = [f"{width},3,2" for width in range(2, 14)]

    def update(spec):
        return check(load_named([spec], baseline), baseline, update=True)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(update, specs))
    assert entries(tmp_path / "baseline.json") == set(specs)
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]
