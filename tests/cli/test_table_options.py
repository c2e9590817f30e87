"""bpnn train on real tables: --drop, --id, the leak warning, task defaults, the small things."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import bpnn
from bpnn.cli import commands, main
from bpnn.cli.table_checks import find_leaks, row_fingerprints

FAST = ["--epochs", "15", "--quiet", "--seed", "1"]


@pytest.fixture(scope="module")
def passengers_csv(tmp_path_factory):
    """A 0/1 target, a yes/no column that restates it, real features and an id column."""
    rng = np.random.default_rng(3)
    n = 300
    age = rng.uniform(1, 80, n).round(1)
    fare = rng.gamma(2.0, 20.0, n).round(2)
    klass = rng.choice(["first", "second", "third"], n)
    score = 0.03 * fare - 0.02 * age + (klass == "first") * 1.0 + rng.normal(0, 0.7, n)
    survived = (score > np.median(score)).astype(int)
    frame = pd.DataFrame({"passenger": np.arange(1001, 1001 + n), "age": age, "fare": fare,
                          "class": klass, "alive": np.where(survived == 1, "yes", "no"),
                          "survived": survived})
    path = tmp_path_factory.mktemp("data") / "passengers.csv"
    frame.to_csv(path, index=False)
    return path


def _train(csv, out, *options):
    return main(["train", str(csv), "--target", "survived", "--out", str(out), *FAST,
                 *options])


# ---------------------------------------------------------------------------- leaks
def test_a_restated_target_is_named_with_the_drop_suggestion(passengers_csv, tmp_path, capsys):
    assert _train(passengers_csv, tmp_path / "m") == 0
    err = capsys.readouterr().err
    leak = [line for line in err.splitlines() if "probably a leak" in line]
    assert len(leak) == 1 and "'alive' (100.0 % of rows)" in leak[0]
    assert "--drop alive" in leak[0]
    for honest in ("'age'", "'fare'", "'class'"):  # real features are not accused
        assert honest not in leak[0]


def test_strict_refuses_a_leak_before_writing_anything(passengers_csv, tmp_path, capsys):
    out = tmp_path / "m"
    assert _train(passengers_csv, out, "--strict") == 2
    err = capsys.readouterr().err
    assert "bpnn: error:" in err and "'alive'" in err and "--strict" in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []


def test_dropping_the_leak_silences_it_and_leaves_it_out(passengers_csv, tmp_path, capsys):
    out = tmp_path / "m"
    assert _train(passengers_csv, out, "--drop", "alive", "--strict") == 0
    assert "leak" not in capsys.readouterr().err
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["drop"] == ["alive"]
    assert [c["name"] for c in prep["columns"]] == ["age", "fare", "class"]


def test_find_leaks_on_regression_and_no_false_alarm_on_noise():
    rng = np.random.default_rng(0)
    target = rng.normal(size=500)
    frame = pd.DataFrame({"y": target, "twice": 2 * target + 1e-4 * rng.normal(size=500),
                          "related": target + rng.normal(size=500),
                          "noise": rng.normal(size=500),
                          "group": rng.choice(list("abc"), 500)})
    found = find_leaks(frame, "y", "regression", ["twice", "related", "noise", "group"])
    assert [name for name, _ in found] == ["twice"]
    assert found[0][1].startswith("R^2 ") and float(found[0][1][4:]) >= 0.99


def test_find_leaks_ignores_a_column_that_is_mostly_the_majority_class():
    # 99.5 % of rows are class "a": any column "predicts" it as well as guessing does.
    target = np.array(["a"] * 995 + ["b"] * 5)
    frame = pd.DataFrame({"y": target, "x": np.tile([0, 1], 500)})
    assert find_leaks(frame, "y", "classification", ["x"]) == []


# ---------------------------------------------------------------------------- --drop / --id
def test_drop_is_not_an_abbreviation_of_dropout(passengers_csv, tmp_path, capsys):
    assert _train(passengers_csv, tmp_path / "m", "--dropo", "0.1") == 2
    assert "unrecognized arguments: --dropo" in capsys.readouterr().err


def test_drop_and_id_name_real_columns(passengers_csv, tmp_path, capsys):
    assert _train(passengers_csv, tmp_path / "m", "--drop", "alvie") == 2
    assert "has no column 'alvie'" in capsys.readouterr().err
    assert _train(passengers_csv, tmp_path / "m", "--id", "survived") == 2
    assert "is the target" in capsys.readouterr().err
    assert _train(passengers_csv, tmp_path / "m", "--drop", "age", "--id", "age") == 2
    assert "both --drop and --id" in capsys.readouterr().err


def test_id_column_is_written_beside_predictions_and_joins_back(passengers_csv, tmp_path,
                                                                 capsys):
    source = pd.read_csv(passengers_csv)
    # "fare" has a different value in (almost) every row but is a feature: name the id.
    out = tmp_path / "m"
    assert _train(passengers_csv, out, "--drop", "alive", "--id", "passenger") == 0
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["ids"] == ["passenger"]
    assert "passenger" not in [c["name"] for c in prep["columns"]]
    shuffled = source.sample(frac=1.0, random_state=0).drop(columns=["survived"])
    shuffled.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(out), str(tmp_path / "new.csv"), "-o",
                 str(tmp_path / "p.csv")]) == 0
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert list(predictions.columns) == ["passenger", "survived"]
    assert predictions["passenger"].tolist() == shuffled["passenger"].tolist()
    joined = source.merge(predictions, on="passenger", suffixes=("", "_predicted"))
    assert len(joined) == len(source)
    assert (joined["survived"] == joined["survived_predicted"]).mean() > 0.7


def test_old_model_folders_keep_their_identifier_columns():
    from bpnn.cli.tabular import TabularPreprocessor

    old = {"format": "bpnn-tabular", "version": 1, "target": "y", "task": "regression",
           "drop": ["row id"], "classes": None, "target_mean": 0.0, "target_scale": 1.0,
           "columns": [{"name": "x", "kind": "numeric", "fill": 0.0, "mean": 0.0,
                        "scale": 1.0}]}
    prep = TabularPreprocessor.from_dict(old)
    assert prep.ids == ["row id"] and prep.drop == []


# ---------------------------------------------------------------------------- defaults by task
def test_defaults_follow_the_task_and_explicit_options_win(regression_csv, passengers_csv,
                                                           tmp_path):
    assert main(["train", str(regression_csv), "--target", "price", "--out",
                 str(tmp_path / "r"), *FAST]) == 0
    used = json.loads((tmp_path / "r" / "bpnn-model.json").read_text())["training"]
    for name, value in vars(commands.TASK_DEFAULTS["regression"]).items():
        if name != "epochs":  # FAST sets it
            assert used[name] == value, name
    assert _train(passengers_csv, tmp_path / "c", "--drop", "alive", "--hidden", "8",
                  "--lr", "0.02") == 0
    used = json.loads((tmp_path / "c" / "bpnn-model.json").read_text())["training"]
    assert used["hidden"] == [8] and used["lr"] == 0.02
    assert used["activation"] == commands.TASK_DEFAULTS["classification"].activation
    assert used["dropout"] == commands.TASK_DEFAULTS["classification"].dropout


def test_init_glorot_draws_as_scikit_learn_and_torch_as_pytorch(torch):
    from bpnn.cli.pipeline import build_network

    bpnn.manual_seed(0)
    ours = build_network(1, 1, [100], "relu", 0.0, "glorot")
    first, last = ours[0], ours[2]
    bound = math.sqrt(6 / (1 + 100))  # the same for both layers: 1 -> 100 -> 1
    for values in (first.weight.data, first.bias.data, last.weight.data):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert abs(float(last.bias.data[0])) <= bound
    bpnn.manual_seed(0)
    default = build_network(1, 1, [100], "relu", 0.0, "torch")[0]
    reference = torch.nn.Linear(1, 100)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)): here U(-1, 1)
    for ours_values, theirs in ((default.weight.data, reference.weight),
                                (default.bias.data, reference.bias)):
        assert np.abs(ours_values).max() <= 1 and np.abs(ours_values).max() > 0.9
        assert ours_values.std() == pytest.approx(theirs.detach().numpy().std(), rel=0.25)


def test_help_shows_both_tasks_defaults(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    cls, reg = commands.TASK_DEFAULTS["classification"], commands.TASK_DEFAULTS["regression"]
    assert (f"(default: {cls.dropout} for classification, {reg.dropout} for "
            "regression)") in text
    assert (f"(default: {cls.weight_decay:g} for classification, {reg.weight_decay:g} for "
            "regression)") in text
    assert f"hidden activation (default: {cls.activation})" in text  # the same for both


# ---------------------------------------------------------------------------- small things
@pytest.mark.parametrize("argv", [[], ["-m", "bpnn"]], ids=["main", "python -m bpnn"])
def test_no_command_prints_the_help(argv, capsys):
    if argv:
        done = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                              timeout=120)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        code = main([])
        out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out.startswith("usage: bpnn") and "bpnn train DATA.csv --target COL" in out


def test_predict_says_when_it_fills_missing_values(passengers_csv, tmp_path, capsys):
    out = tmp_path / "m"
    assert _train(passengers_csv, out, "--drop", "alive") == 0
    frame = pd.read_csv(passengers_csv).head(20)
    frame.loc[[2, 5, 7], "age"] = np.nan
    frame.loc[[4], "class"] = np.nan
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "gaps.csv"), "-o",
                 str(tmp_path / "p.csv")]) == 0
    prep = json.loads((out / "preprocessing.json").read_text())
    median = next(c["fill"] for c in prep["columns"] if c["name"] == "age")
    err = capsys.readouterr().err
    assert f"column 'age': 3 of 20 values missing, filled with the training median {median:g}" \
        in err
    assert "column 'class': 1 of 20 values missing, filled with the most frequent" in err


def test_evaluate_notes_rows_that_trained_the_model(passengers_csv, tmp_path, capsys):
    out = tmp_path / "m"
    assert _train(passengers_csv, out, "--drop", "alive") == 0
    split = json.loads((out / "metrics.json").read_text())["split"]
    capsys.readouterr()
    assert main(["evaluate", str(out), str(passengers_csv)]) == 0
    err = capsys.readouterr().err
    seen = split["train"] + split["validation"]
    assert f"bpnn: note: {seen} of 300 rows of {passengers_csv} were used to train or " \
           "validate this model" in err
    # Rows the model never saw get no note.
    fresh = pd.read_csv(passengers_csv)
    fresh["age"] = fresh["age"] + 0.05
    fresh.to_csv(tmp_path / "fresh.csv", index=False)
    assert main(["evaluate", str(out), str(tmp_path / "fresh.csv")]) == 0
    assert "were used to train" not in capsys.readouterr().err


def test_row_fingerprints_ignore_how_numbers_are_written():
    a = pd.DataFrame({"x": [1, 2, 3], "c": ["u", "v", "w"]})
    b = pd.DataFrame({"x": [1.0, 2.0, 4.0], "c": ["u", "v", "w"]})
    fa, fb = row_fingerprints(a, ["x", "c"]), row_fingerprints(b, ["x", "c"])
    assert fa.dtype == np.uint64 and list(fa[:2] == fb[:2]) == [True, True] and fa[2] != fb[2]


def test_regression_predictions_carry_float32_precision(regression_csv, tmp_path):
    out = tmp_path / "r"
    assert main(["train", str(regression_csv), "--target", "price", "--out", str(out),
                 *FAST]) == 0
    assert main(["predict", str(out), str(regression_csv), "-o", str(tmp_path / "p.csv")]) == 0
    text = (tmp_path / "p.csv").read_text().splitlines()[1:]
    digits = [len(value.replace("-", "").replace(".", "").lstrip("0")) for value in text]
    assert max(digits) <= 7
    exact = commands.predict_frame(str(out), str(regression_csv))["price"].to_numpy()
    assert np.allclose(np.array(text, dtype=float), exact, rtol=1e-6, atol=0)


def test_regression_note_for_whole_numbers_says_why(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200)})
    frame["count"] = (frame["x"] * 40 + 100).round().astype(int)
    frame.to_csv(tmp_path / "counts.csv", index=False)
    assert main(["train", str(tmp_path / "counts.csv"), "--target", "count", "--out",
                 str(tmp_path / "m"), *FAST]) == 0
    err = capsys.readouterr().err
    assert "too many to be classes; use --task classification if they are" in err


def test_explain_with_a_custom_network_does_not_speak_of_the_classic_example(tmp_path, capsys):
    network = {"input": [1.0, 0.5], "target": [0.2], "activation": "tanh",
               "layers": [{"weights": [[0.1, -0.2], [0.3, 0.4]], "bias": 0.1},
                          {"weights": [[0.5, -0.6]], "bias": 0.0}]}
    (tmp_path / "net.json").write_text(json.dumps(network))
    assert main(["explain", "--network", str(tmp_path / "net.json")]) == 0
    custom = capsys.readouterr().out
    assert "classic" not in custom and "Backpropagation, one step: the network in net.json" \
        in custom
    assert main(["explain"]) == 0
    assert "the classic example keeps them fixed" in capsys.readouterr().out
