from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.suite import MAX_SEED, MAX_TRIALS, check_seeds, parse_suite
from tests.helpers import ROOT, cli, write

GOOD = """
name = "t"
seeds = [0, 1]
task = "hello"
encoding = "embedding"

[[grid]]
cell = ["rnn", "lstm", "gru"]
hidden = [8, 16]
"""


def test_grid_crosses_lists_and_seeds(tmp_path: Path):
    suite = parse_suite(write(tmp_path / "s.toml", GOOD))
    assert suite.name == "t"
    assert len(suite.trials) == 3 * 2 * 2
    assert {t.cell for t in suite.trials} == {"rnn", "lstm", "gru"}
    assert {t.seed for t in suite.trials} == {0, 1}
    assert len({t.trial_id for t in suite.trials}) == len(suite.trials)


def test_cli_seeds_override(tmp_path: Path):
    suite = parse_suite(write(tmp_path / "s.toml", GOOD), seeds=[7])
    assert {t.seed for t in suite.trials} == {7}


def test_around_varies_one_axis_at_a_time(tmp_path: Path):
    text = """
task = "adding"
[[around]]
centre = { cell = ["rnn", "lstm"], hidden = 32, seq_len = 10, batch = 16 }
vary = { hidden = [16, 64], seq_len = [20, 40], batch = [8] }
"""
    trials = parse_suite(write(tmp_path / "a.toml", text)).trials
    # per cell: centre + 2 hidden + 2 seq_len + 1 batch = 6 configurations
    assert len(trials) == 12
    configs = {(t.cell, t.hidden, t.seq_len, t.batch) for t in trials}
    assert ("lstm", 64, 10, 16) in configs and ("lstm", 64, 20, 16) not in configs
    assert all(t.encoding == "dense" for t in trials)  # adding feeds features


def test_exclude_and_hello_pins_length(tmp_path: Path):
    text = GOOD + '\n[[exclude]]\ncell = "gru"\nhidden = 16\n\n[fixed]\nseq_len = 50\n'
    trials = parse_suite(write(tmp_path / "e.toml", text)).trials
    assert not [t for t in trials if t.cell == "gru" and t.hidden == 16]
    assert len(trials) == 10
    assert {(t.seq_len, t.batch) for t in trials} == {(5, 1)}  # hello is fixed at T=5, B=1


def test_block_seed_overrides_suite_seeds(tmp_path: Path):
    text = 'seeds = [0]\n[[grid]]\ntask = "hello"\nseed = [3, 4]\n'
    assert {t.seed for t in parse_suite(write(tmp_path / "b.toml", text)).trials} == {3, 4}


def test_repo_suites_parse():
    sizes = {}
    for path in sorted((ROOT / "suites").glob("*.toml")):
        sizes[path.stem] = len(parse_suite(path).trials)
    assert sizes["seed"] == 40  # models 1, 2 and 3-5 fused + cell, 5 seeds
    assert sizes["smoke"] == 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('cell = "lstn"', ["field 'cell'", "'lstn'", "rnn, lstm, gru"]),
        ("hidden = -4", ["field 'hidden'", "-4", ">= 1"]),
        ("hiden = 4", ["unknown key 'hiden'", "did you mean 'hidden'"]),
        ('hidden = "big"', ["field 'hidden'", "'big'", "not an integer"]),
        ("lr = 0", ["field 'lr'", "must be > 0"]),
        ("layers = 1.5", ["field 'layers'", "not an integer"]),
        ('dtype = "fp8"', ["field 'dtype'", "float32, bfloat16, float16"]),
        ("hidden = []", ["field 'hidden'", "empty list"]),
        ("seeds = -1", ["field 'seeds'", "-1"]),
        ('[[grid]]\ntask = "hello"\nhead = "none"\nhidden = 8', ["hidden must be 4"]),
        ('[[grid]]\ntask = "adding"\nseq_len = 1', ["seq_len >= 2"]),
        ("[[around]]\ncentre = { hidden = 8 }\nvari = { hidden = [4] }", ["unknown key 'vari'"]),
        ('[[exclude]]\ncel = "rnn"', ["[[exclude]] #1", "unknown key 'cel'"]),
        ("lr = nan", ["field 'lr'", "nan is not a finite number"]),
        ("clip = inf", ["field 'clip'", "inf is not a finite number"]),
        ('name = ".."', ["field 'name'"]),
        ("hidden = [8", ["not valid TOML"]),
        ("description = 5", ["field 'description'", "5 is not a string"]),
        ('[[grid]]\nlabel = ["a"]\ncell = "rnn"', ["[[grid]] #1", "field 'label'", "['a'] is not a string"]),
        ("seeds = [9223372036854775807]", ["field 'seeds'", "9223372036854775807", "[0, 2**32)"]),
        ("seeds = [0, 4294967296]", ["field 'seeds'", "4294967296", "[0, 2**32)"]),
        ("seeds = [1.5]", ["field 'seeds'", "1.5", "[0, 2**32)"]),
        ("seeds = 0", ["field 'seeds'", "0 is not a positive count"]),
        ('seeds = "3"', ["field 'seeds'", "'3'"]),
        ("seeds = 100001", ["field 'seeds'", "100001 seeds", "cap of 100000"]),
        ("[[grid]]\nseed = [4294967296]", ["[[grid]] #1", "field 'seed'", "4294967296", "< 2**32"]),
        ("seed = -1", ["field 'seed'", "-1", ">= 0"]),
        ("seeds = 1000\nhidden = [" + ", ".join(map(str, range(1, 102))) + "]", ["101000 trials", "cap of 100000"]),
        (
            "[[around]]\ncentre = { hidden = [1, 2] }\nvary = { layers = ["
            + ", ".join(map(str, range(1, 50001)))
            + "] }",
            ["100002 trials", "cap of 100000"],
        ),
    ],
)
def test_bad_input_names_file_field_value_and_choices(tmp_path: Path, text: str, expected: list[str]):
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(BenchError) as info:
        parse_suite(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_missing_file():
    with pytest.raises(BenchError, match="nope.toml.*not found"):
        parse_suite("suites/nope.toml")


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ('cell = "lstn"', [], "choose one of: rnn, lstm, gru"),
        ("hidden = -4", [], "field 'hidden'"),
        ("hiden = 4", [], "unknown key 'hiden'"),
        ('hidden = "x"', [], "not an integer"),
        ("", ["--seeds", "a,b"], "--seeds"),
        ("", ["--inject-slowdown", "lstn:0.2"], "unknown cell 'lstn'"),
        ("", ["--time-budget", "-1"], "--time-budget"),
        ("description = 5", [], "field 'description': 5 is not a string"),
        ('[[grid]]\nlabel = 5\ncell = "rnn"', [], "field 'label': 5 is not a string"),
        ("seeds = [9223372036854775807]", [], "9223372036854775807 is not a seed"),
        ("[[grid]]\nseed = [4294967296]", [], "field 'seed': 4294967296 must be < 2**32"),
        ("[[grid]]\nseed = [9223372036854775807]", [], "field 'seed': 9223372036854775807 must be < 2**32"),
        ("seeds = 20000000", ["--dry-run"], "a count of 20000000 seeds is more than the cap of 100000"),
        ("seeds = 200\nhidden = [" + ", ".join(map(str, range(1, 1001))) + "]", ["--dry-run"], "200000 trials"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path: Path, text: str, args: list[str], expected: str):
    suite = write(tmp_path / "bad.toml", 'task = "hello"\n' + text)
    out = tmp_path / "out"
    proc = cli("run", str(suite), "--out", str(out), *args, cwd=tmp_path, timeout=30)  # the caps fail fast
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert expected in proc.stderr
    assert not out.exists() and not (tmp_path / "results").exists()


def test_cli_missing_suite_file(tmp_path: Path):
    proc = cli("run", "missing.toml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "error: suite file 'missing.toml' not found" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_exclude_matches_the_final_trial_seed_and_pinned_axes(tmp_path: Path):
    text = 'seeds = [0, 1, 2]\ntask = "hello"\ncell = ["rnn", "gru"]\n[[exclude]]\ncell = "gru"\nseed = 0\n'
    trials = parse_suite(write(tmp_path / "x.toml", text)).trials
    assert sorted((t.cell, t.seed) for t in trials) == [("gru", 1), ("gru", 2), ("rnn", 0), ("rnn", 1), ("rnn", 2)]
    pinned = 'task = "hello"\nseq_len = 50\n[[exclude]]\nseq_len = 5\n'  # hello pins seq_len to 5
    with pytest.raises(BenchError, match="no trials"):
        parse_suite(write(tmp_path / "y.toml", pinned))


def test_non_utf8_suite_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "x"\n# caf\xe9\n')
    with pytest.raises(BenchError, match="cannot be read as UTF-8"):
        parse_suite(path)


@pytest.mark.parametrize(("task", "trials"), [("adding", 1), ("synthetic", 1), ("copy", 2), ("hello", 2)])
def test_loss_variants_collapse_where_the_task_ignores_the_reduction(tmp_path: Path, task: str, trials: int):
    text = f'task = "{task}"\nseq_len = 4\nloss = ["mean", "sum"]\n'
    assert len(parse_suite(write(tmp_path / "l.toml", text)).trials) == trials


def test_seeds_up_to_2_to_the_32_are_accepted(tmp_path: Path):
    text = 'task = "hello"\nseeds = [0, 4294967295]\n[[grid]]\ncell = "rnn"\n[[grid]]\nseed = [4294967295]\n'
    assert sorted(t.seed for t in parse_suite(write(tmp_path / "s.toml", text)).trials) == [0, 4294967295]
    assert MAX_SEED == 2**32


def test_check_seeds_for_the_cli():
    assert check_seeds([0, 3], "--seeds") == [0, 3]
    for bad in ([], [-1], [MAX_SEED], [True], "0"):
        with pytest.raises(BenchError, match="^--seeds: "):
            check_seeds(bad, "--seeds")
    with pytest.raises(BenchError, match=f"cap of {MAX_TRIALS}"):
        check_seeds(list(range(MAX_TRIALS + 1)), "--seeds")


def test_a_suite_at_the_trial_cap_expands(tmp_path: Path):
    text = 'task = "copy"\nseeds = 100\nhidden = [' + ", ".join(map(str, range(1, 1001))) + "]\n"
    assert len(parse_suite(write(tmp_path / "cap.toml", text)).trials) == MAX_TRIALS


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbfname = "bom"\ntask = "hello"\ndescription = "saved by Notepad"\n')
    suite = parse_suite(path)
    assert (suite.name, suite.description, len(suite.trials)) == ("bom", "saved by Notepad", 1)
    assert not suite.text.startswith("\ufeff")
    proc = cli("run", str(path), "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Invalid statement" not in proc.stderr
    assert not (tmp_path / "results").exists()
