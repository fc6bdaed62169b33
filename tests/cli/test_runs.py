"""The runs table, run comparison, run files, and the exit-code and `--json` contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import BOOM, IRIS, IRIS_CSV, invoke, write


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """iris-mlp/1 and /2 completed (learning rate 0.01 and 0.02), /3 failed in epoch 1."""
    root = tmp_path_factory.mktemp("runs")
    common = ("--epochs", "2", "--runs-dir", root, "--quiet")
    assert invoke("train", IRIS, *common).code == 0
    lr = invoke("train", IRIS, *common, "--set", "compile.optimizer.Adam.learning_rate=0.02")
    assert lr.code == 0, lr.err
    failed = invoke(
        "train",
        IRIS,
        *common,
        "--set",
        f"plugins=[{BOOM}]",
        "--set",
        "callbacks=[{FailAtEpoch: {epoch: 1}}]",
    )
    assert failed.code == 1, failed.err
    assert "boom at epoch 1" in failed.err
    return root


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a Rich table, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│") and line.strip("│ ")
    ]


def test_runs_lists_completed_and_failed(cli, runs: Path) -> None:
    result = cli("runs", runs)
    assert result.code == 0, result.err
    rows = {row[1]: row for row in table_rows(result.out) if row[0] == "iris-mlp"}
    assert {n: row[2] for n, row in rows.items()} == {
        "1": "completed",
        "2": "completed",
        "3": "failed",
    }
    assert f"{runs} (test metrics)" in result.out  # the held-out metrics are the table's columns
    header = next(line for line in result.out.splitlines() if "┃ name" in line)
    assert "┃ accuracy ┃" in header and "started" in header
    assert rows["1"][-1] and not rows["3"][-1]  # a failed run has no metrics


def test_runs_json(cli, runs: Path) -> None:
    result = cli("runs", runs, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["runs_dir"] == str(runs)
    records = {r["n"]: r for r in document["runs"]}
    assert {n: r["status"] for n, r in records.items()} == {
        1: "completed",
        2: "completed",
        3: "failed",
    }
    assert records[3]["error"] == "RuntimeError: boom at epoch 1"
    assert records[3]["epochs_done"] == 1
    assert set(records[1]["metrics"]) >= {"loss", "val_accuracy", "test_accuracy"}
    assert Path(records[1]["path"]) == runs / "iris-mlp" / "1"


def test_empty_runs_dir(cli, tmp_path: Path) -> None:
    result = cli("runs", tmp_path)
    assert (result.code, result.out.strip()) == (0, f"no runs in {tmp_path}")
    assert cli("runs", tmp_path, "--json").json() == {"runs_dir": str(tmp_path), "runs": []}


def test_compare_two_runs(cli, runs: Path) -> None:
    result = cli("runs", runs, "--compare", "iris-mlp/1", "iris-mlp/2", "--json")
    assert result.code == 0, result.err
    diff = result.json()
    assert diff["spec_diff"] == [
        {"key": "compile.optimizer.Adam.learning_rate", "a": 0.01, "b": 0.02}
    ]
    metrics = {m["metric"]: m for m in diff["metrics"]}
    assert set(metrics) == {
        f"{prefix}{name}" for prefix in ("", "val_", "test_") for name in ("loss", "accuracy")
    }
    record = json.loads((runs / "iris-mlp" / "2" / "run.json").read_text())
    assert metrics["test_loss"]["b"] == record["metrics"]["test_loss"]
    assert all(isinstance(m["a"], float) and isinstance(m["b"], float) for m in metrics.values())
    # directories work as well as NAME/N
    by_path = cli("runs", "--compare", runs / "iris-mlp" / "1", runs / "iris-mlp" / "2", "--json")
    assert by_path.json()["spec_diff"] == diff["spec_diff"]
    assert by_path.json()["metrics"] == diff["metrics"]
    text = cli("runs", runs, "--compare", "iris-mlp/1", "iris-mlp/2")
    assert text.code == 0
    assert "spec differences" in text.out
    (row,) = table_rows(text.out.split("spec differences")[1])
    assert row == ["compile.optimizer.Adam.learning_rate", "0.01", "0.02"]
    header = next(line for line in text.out.splitlines() if "┃ metric" in line)
    assert "iris-mlp/1" in header and "iris-mlp/2" in header


def test_compare_latest_by_name(cli, runs: Path) -> None:
    diff = cli("runs", runs, "--compare", "iris-mlp/1", "iris-mlp", "--json").json()
    assert Path(diff["b"]) == runs / "iris-mlp" / "3"
    keys = {row["key"] for row in diff["spec_diff"]}
    assert {"plugins", "callbacks[0].FailAtEpoch.epoch"} <= keys
    assert all(m["b"] is None for m in diff["metrics"])  # the failed run has none


def test_compare_identical_specs(cli, runs: Path) -> None:
    result = cli("runs", runs, "--compare", "iris-mlp/1", "iris-mlp/1")
    assert result.code == 0
    assert "specs are identical" in result.out


@pytest.mark.parametrize("ref", ["iris-mlp/9", "nope", "nope/1"])
def test_compare_unknown_run(cli, runs: Path, ref: str) -> None:
    result = cli("runs", runs, "--compare", "iris-mlp/1", ref)
    assert result.code == 2
    assert f"no run '{ref}'" in result.err
    assert "Traceback" not in result.err
    document = cli("runs", runs, "--compare", ref, "iris-mlp/1", "--json")
    assert document.code == 2
    assert f"no run '{ref}'" in document.json()["errors"][0]["message"]


def test_run_files(runs: Path) -> None:
    done, failed = runs / "iris-mlp" / "1", runs / "iris-mlp" / "3"
    png = (done / "history.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert len((done / "history.csv").read_text().strip().splitlines()) == 1 + 2
    assert {"spec.yaml", "model.keras", "metrics.json", "run.json"} <= {
        p.name for p in done.iterdir()
    }
    assert (failed / "spec.yaml").is_file() and (failed / "history.csv").is_file()
    assert not (failed / "model.keras").exists() and not (failed / "history.png").exists()


# --- the exit-code and --json contract ------------------------------------------------------

# (arguments, exit code): {run} a completed run, {failed} a failed one, {runs} their folder,
# {empty} an empty folder, {bad} a spec with an unknown argument, {bare} a model.keras alone.
CASES = [
    (["validate", IRIS], 0),
    (["config", IRIS, "--set", "fit.epochs=2"], 0),
    (["summary", IRIS], 0),
    (["runs", "{runs}"], 0),
    (["runs", "{empty}"], 0),
    (["runs", "{runs}", "--compare", "iris-mlp/1", "iris-mlp/2"], 0),
    (["evaluate", "{run}"], 0),
    (["evaluate", "{run}", "--data", IRIS_CSV, "--require", "accuracy>=0"], 0),
    (["predict", "{run}", IRIS_CSV], 0),
    (["evaluate", "{empty}"], 1),
    (["evaluate", "{failed}"], 1),
    (["predict", "{failed}", IRIS_CSV], 1),
    (["validate", "{bad}"], 2),
    (["summary", "{bad}"], 2),
    (["train", "{bad}", "--runs-dir", "{empty}"], 2),
    (["train", "{empty}/missing.yaml", "--runs-dir", "{empty}"], 2),
    (["train", IRIS, "--epochs", "0", "--runs-dir", "{empty}"], 2),
    (["train", IRIS, "--bogus", "--runs-dir", "{empty}"], 2),
    (["train", IRIS, "--set", "fit.epochs=abc", "--runs-dir", "{empty}"], 2),
    (["train", IRIS, "--require", "loss<", "--runs-dir", "{empty}"], 2),
    (["evaluate", "{run}", "--require", "los<1"], 2),
    (["predict", "{run}", "{empty}/missing.csv"], 2),
    (["evaluate", "{bare}", "--data", IRIS_CSV], 2),
    (["predict", "{bare}", IRIS_CSV], 2),
    (["evaluate", "{bare}", "--spec", IRIS], 0),
    (["train", IRIS, "--name", "../out", "--runs-dir", "{empty}"], 2),
    (["runs", "{runs}", "--compare", "iris-mlp/1", "iris-mlp/7"], 2),
    (["no-such-command"], 2),
    (["evaluate", "{run}", "--require", "loss<0.0001"], 3),
    (["evaluate", "{run}", "--require", "accuracy>=0", "--require", "accuracy>1"], 3),
]


@pytest.mark.parametrize(
    ("args", "code"), CASES, ids=[f"{i}-{args[0]}-{code}" for i, (args, code) in enumerate(CASES)]
)
def test_exit_codes(cli, runs: Path, tmp_path: Path, args: list, code: int) -> None:
    bad = write(tmp_path, "bad.yaml", IRIS.read_text().replace("units: 16", "unitz: 16", 1))
    places = {
        "{run}": runs / "iris-mlp" / "1",
        "{failed}": runs / "iris-mlp" / "3",
        "{runs}": runs,
        "{empty}": tmp_path / "empty",
        "{bad}": bad,
    }
    (tmp_path / "empty").mkdir()
    (tmp_path / "bare").mkdir()
    places["{bare}"] = tmp_path / "bare" / "model.keras"
    shutil.copy(runs / "iris-mlp" / "1" / "model.keras", places["{bare}"])
    argv = [str(a) for a in args]
    for key, value in places.items():
        argv = [a.replace(key, str(value)) for a in argv]
    plain = cli(*argv)
    assert plain.code == code, plain.out + plain.err
    if code == 1:
        assert plain.err.startswith("error: ") and "Traceback" not in plain.err
    as_json = cli(*argv, "--json")
    assert as_json.code == code, as_json.out + as_json.err
    document = json.loads(as_json.out)  # stdout is one JSON document, whatever happened
    if isinstance(document, dict) and "ok" in document:
        assert document["ok"] is (code == 0)
    if code in (1, 2):
        errors = document.get("errors") or [e for s in document["specs"] for e in s["errors"]]
        assert errors and all(e["message"] for e in errors)
    assert not (tmp_path / "empty" / "iris-mlp").exists()  # no case trains


# --- run.json files that are broken or copied from elsewhere ------------------------------------


def copied_run(runs: Path, tmp_path: Path, run_json: str | bytes | dict) -> Path:
    """A runs folder holding a copy of completed run 1 and, as run 2, a copy whose `run.json`
    is replaced by `run_json` (a dict: run 1's record updated with it)."""
    root = tmp_path / "runs"
    for n in (1, 2):
        shutil.copytree(runs / "iris-mlp" / "1", root / "iris-mlp" / str(n))
    target = root / "iris-mlp" / "2" / "run.json"
    if isinstance(run_json, dict):
        run_json = json.dumps({**json.loads(target.read_text()), "n": 2, **run_json})
    if isinstance(run_json, str):
        run_json = run_json.encode()
    target.write_bytes(run_json)
    return root


BAD_RUN_JSON = {
    "invalid-json": "{not json",
    "not-utf-8": b'{"status": "\xff"}',
    "list": "[1, 2]",
    "number": "42",
    "string": '"completed"',
    "metrics-string": {"metrics": "high"},
    "metric-text": {"metrics": {"test_accuracy": "high"}},
    "metric-null": {"metrics": {"test_accuracy": None}},
    "started-number": {"started": 20260101},
    "name-list": {"name": ["iris-mlp"]},
    "n-text": {"n": "two"},
    "duration-text": {"duration_s": "long"},
    "gates-string": {"gates": "failed"},
}


@pytest.mark.parametrize("content", BAD_RUN_JSON.values(), ids=BAD_RUN_JSON)
def test_a_bad_run_json_is_listed_unreadable(cli, runs: Path, tmp_path: Path, content) -> None:
    root = copied_run(runs, tmp_path, content)
    result = cli("runs", root)
    assert result.code == 0, result.err
    rows = {row[1]: row[2] for row in table_rows(result.out)}
    assert rows == {"1": "completed", "2": "unreadable"}
    assert f"warning: {root / 'iris-mlp' / '2' / 'run.json'}: " in result.err  # and why
    listed = cli("runs", root, "--json")
    assert listed.code == 0, listed.err
    records = {r["n"]: r for r in listed.json()["runs"]}
    assert {n: r["status"] for n, r in records.items()} == {1: "completed", 2: "unreadable"}
    assert "run.json" in records[2]["error"]
    assert records[2]["name"] == "iris-mlp" and records[2]["path"] == str(root / "iris-mlp" / "2")


@pytest.mark.parametrize("content", BAD_RUN_JSON.values(), ids=BAD_RUN_JSON)
def test_comparing_a_bad_run_is_an_argument_error(cli, runs: Path, tmp_path: Path, content) -> None:
    root = copied_run(runs, tmp_path, content)
    bad = root / "iris-mlp" / "2" / "run.json"
    result = cli("runs", root, "--compare", "iris-mlp/1", "iris-mlp/2")
    assert result.code == 2, result.err
    assert str(bad) in result.err and "Traceback" not in result.err
    document = cli("runs", root, "--compare", "iris-mlp/2", "iris-mlp/1", "--json")
    assert document.code == 2, document.err
    (error,) = document.json()["errors"]
    assert error["file"] == str(bad)


def test_comparing_a_run_with_a_broken_spec_is_an_argument_error(
    cli, runs: Path, tmp_path: Path
) -> None:
    root = copied_run(runs, tmp_path, {})
    spec = root / "iris-mlp" / "2" / "spec.yaml"
    spec.write_text("model: [oops\n")
    result = cli("runs", root, "--compare", "iris-mlp/1", "iris-mlp/2")
    assert result.code == 2, result.err
    assert str(spec) in result.err and "Traceback" not in result.err


def test_control_codes_in_a_copied_run_never_reach_the_terminal(
    cli, runs: Path, tmp_path: Path
) -> None:
    fields = {
        "name": "ev\x1b[2Jil",
        "status": "\x1b]8;;http://x\x07ok\x1b]8;;\x07\x9b",
        "started": "\x1b[31m2026",
        "metrics": {"test_\x1b[31ma\x07c": 0.5},
        "error": "\x1b[1A\x1b[Kforged",
    }
    root = copied_run(runs, tmp_path, fields)
    result = cli("runs", root / "iris-mlp" / "2")
    assert result.code == 0, result.err
    for code in ("\x1b", "\x07", "\x9b"):
        assert code not in result.out
    (row,) = table_rows(result.out)
    assert row[:4] == ["evil", "2", "ok\\x9b", "2026"]
    header = next(line for line in result.out.splitlines() if "┃ name" in line)
    assert "┃ a\\x07c ┃" in header
    compare = cli("runs", root, "--compare", "iris-mlp/1", "iris-mlp/2")
    assert compare.code == 0, compare.err
    assert "test_a\\x07c" in compare.out
    for code in ("\x1b", "\x07"):
        assert code not in compare.out


def test_rich_markup_in_a_copied_run_is_shown_as_written(cli, runs: Path, tmp_path: Path) -> None:
    fields = {"name": "[b]n[/b]", "status": "[link=x]s[/link]", "metrics": {"test_[i]m[/i]": 0.5}}
    root = copied_run(runs, tmp_path, fields)
    result = cli("runs", root / "iris-mlp" / "2")
    assert result.code == 0, result.err
    (row,) = table_rows(result.out)
    assert (row[0], row[2], row[-1]) == ("[b]n[/b]", "[link=x]s[/link]", "0.5000")
    header = next(line for line in result.out.splitlines() if "┃ name" in line)
    assert "┃ [i]m[/i] ┃" in header
    compare = cli("runs", root, "--compare", "iris-mlp/1", "iris-mlp/2")
    assert compare.code == 0, compare.err
    assert "test_[i]m[/i]" in compare.out


def test_runs_of_one_run_directory(cli, runs: Path) -> None:
    run = runs / "iris-mlp" / "2"
    result = cli("runs", run)
    assert result.code == 0, result.err
    assert [row[:3] for row in table_rows(result.out)] == [["iris-mlp", "2", "completed"]]
    (record,) = cli("runs", run, "--json").json()["runs"]
    assert (record["name"], record["n"], record["path"]) == ("iris-mlp", 2, str(run))


SPACES = {
    "model.sequential.layers[1].Dense.units": 16,
    "compile.optimizer.Adam.learning_rate": 0.0123456,
    "fit.batch_size": 32,
    "model.sequential.layers[1].Dense.activation": "relu",
}


def _trial_run(search: Path, n: int, record: dict) -> None:
    run = search / "trial" / str(n)
    run.mkdir(parents=True)
    common = {"name": "trial", "n": n, "started": f"2026-01-01T00:00:0{n}+00:00"}
    (run / "run.json").write_text(json.dumps({**common, **record}))


@pytest.mark.parametrize("spaces", [2, 4])
def test_the_trials_table_keeps_its_columns(cli, tmp_path: Path, spaces: int) -> None:
    """`kerascli runs <search>` shows the trials table at 80 columns (not a terminal), the
    trial, objective, n and status of every run, one without its trial record or unreadable
    included; the hyperparameters wrap, in one column where theirs do not fit."""
    search = tmp_path / "iris-tune"
    values = dict(list(SPACES.items())[:spaces])
    for n in (1, 2):
        trial = {"id": str(n - 1), "hyperparameters": values, "objective": "val_accuracy"}
        done = {"status": "completed", "duration_s": 3.0, "metrics": {"val_accuracy": 0.9}}
        _trial_run(search, n, {**done, "trial": trial})
    _trial_run(search, 3, {"status": "failed", "metrics": {"val_accuracy": 0.5}})  # no record
    _trial_run(search, 4, {"status": "running", "trial": "?"})  # unreadable
    result = cli("runs", search)
    assert result.code == 0, result.err
    assert max(len(line) for line in result.out.splitlines()) <= 80
    header = next(line for line in result.out.splitlines() if "┃ trial" in line)
    assert [c.strip() for c in header.split("┃")[-5:-1]] == [
        "val_accuracy",
        "n",
        "status",
        "duration",
    ]
    rows = {row[-3]: (row[0], row[-4], row[-2]) for row in table_rows(result.out) if row[-3]}
    assert rows == {
        "1": ("0", "0.9000", "completed"),
        "2": ("1", "0.9000", "completed"),
        "3": ("", "0.5000", "failed"),
        "4": ("", "", "unreadable"),
    }
    assert ("units=16" in result.out) == (spaces > 3)
