"""Fine-tuning in stages: a frozen layer trains only once a stage unfreezes it, in one run
directory whose history goes on across stages; broken stages are located; EarlyStopping ends a
stage, not the run; `--resume` from a backup resumes in the stage it was written in."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from kerascli.model.builder import Builder
from kerascli.model.keras_env import import_keras
from kerascli.run.stages import check_stage_settings
from kerascli.run.trainer import seed_everything
from kerascli.spec import SpecError, load_spec
from tests.conftest import STOP_AT, invoke

FIXTURES = Path(__file__).parent / "fixtures"
STAGES = FIXTURES / "stages_iris.yaml"  # `base` frozen for 3 epochs, then 2 epochs unfrozen


def train(spec: Path, runs: Path, *args: str) -> Path:
    result = invoke("train", spec, "--runs-dir", runs, "--quiet", "--json", *args)
    assert result.code == 0, result.err
    return Path(result.json()["run_dir"])


def history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def weights(run: Path, layer: str) -> list[np.ndarray]:
    keras = import_keras()
    model = keras.saving.load_model(run / "model.keras", compile=False)
    return [np.asarray(w) for w in model.get_layer(layer).get_weights()]


def initial_weights(layer: str) -> list[np.ndarray]:
    """`layer`'s weights as the run built them (seeded as it was), before any training."""
    spec = load_spec(STAGES)
    seed_everything(spec.seed)
    model = Builder(spec).build()
    return [np.asarray(w) for w in model.get_layer(layer).get_weights()]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two-stage run, and the same spec without its stages (the first stage alone)."""
    folder = tmp_path_factory.mktemp("stages")
    return {
        "staged": train(STAGES, folder / "staged"),
        "first": train(STAGES, folder / "first", "--set", "stages=[]"),
    }


def test_frozen_layer_trains_only_in_the_stage_that_unfreezes_it(runs: dict[str, Path]) -> None:
    start = initial_weights("base")
    assert same(weights(runs["first"], "base"), start)  # frozen for fit.epochs
    assert not same(weights(runs["staged"], "base"), start)  # trained in `fine_tune`
    assert not same(weights(runs["first"], "head"), initial_weights("head"))


def test_history_goes_on_across_stages(runs: dict[str, Path]) -> None:
    rows = history(runs["staged"])
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert [r["stage"] for r in rows] == ["stage1"] * 3 + ["fine_tune"] * 2
    rates = [float(r["learning_rate"]) for r in rows]
    assert rates[:3] == pytest.approx([0.01] * 3) and rates[3:] == pytest.approx([0.001] * 2)
    assert "stage" not in history(runs["first"])[0]  # no stages, no stage column
    log = (runs["staged"] / "train.log").read_text().splitlines()
    assert [line.split(" - ")[0] for line in log if line.startswith("epoch ")] == [
        f"epoch {n}/5" for n in range(1, 6)
    ]
    assert (runs["staged"] / "history.png").is_file()


def test_run_json_lists_the_stages(runs: dict[str, Path]) -> None:
    record = json.loads((runs["staged"] / "run.json").read_text())
    assert record["status"] == "completed" and record["epochs_done"] == 5
    assert record["stages"] == [
        {"name": "stage1", "epochs": [1, 3]},
        {"name": "fine_tune", "epochs": [4, 5]},
    ]
    assert "stages" not in json.loads((runs["first"] / "run.json").read_text())
    saved = load_spec(runs["staged"] / "spec.yaml")
    assert saved.stages == load_spec(STAGES).stages


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "stages_broken",
            [
                "6:17: stages[0].trainable.bse: the model has no layer 'bse' (did you mean 'base'?)",
                "7:17: stages[0].optimizer.Adamm: unknown optimizer 'Adamm' (did you mean 'Adam'"
                " or 'AdamW' or 'Adamax'?)",
                "8:11: stages[1].name: stage name 'fine_tune' is another stage's: give each a new"
                " name",
                "11:13: stages[1].trainable.base: trainable {last: 1} needs a model (an"
                " application), but 'base' is a Dense layer: use true or false",
            ],
        ),
        (
            "stages_broken_form",
            [
                "6:13: stages[0].trainable.base: expected true, false, {last: N} or"
                " {from: LAYER}, got {'first': 2}"
            ],
        ),
    ],
)
def test_broken_stages_are_located(fixture: str, expected: list[str]) -> None:
    result = invoke("validate", FIXTURES / f"{fixture}.yaml")
    assert result.code == 2
    prefix = f"{FIXTURES / fixture}.yaml:"
    lines = [line.removeprefix(prefix) for line in result.err.splitlines() if prefix in line]
    assert lines == expected


@pytest.mark.parametrize(
    ("trainable", "message"),
    [
        (
            "{hed: true}",
            "4:17: stages[0].trainable.hed: the model has no layer 'hed' (did you mean 'head'?)",
        ),
        (
            "{head: {from: x}}",
            "4:23: stages[0].trainable.head: trainable {from: x} needs a model (an application),"
            " but 'head' is a Dense layer: use true or false",
        ),
    ],
)
def test_stage_settings_are_checked_on_the_built_model(
    tmp_path: Path, trainable: str, message: str
) -> None:
    # Loaded without the spec checks, as a spec with plugins is (names inside them are only
    # known once the model is built): the run checks them before it trains.
    path = tmp_path / "spec.yaml"
    path.write_text(f"extends: {STAGES}\nstages:\n  - epochs: 1\n    trainable: {trainable}\n")
    builder = Builder(load_spec(path, check=False))
    with pytest.raises(SpecError) as caught:
        check_stage_settings(builder, builder.build())
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert f"{problem.line}:{problem.column}: {problem.path}: {problem.message}" == message


def test_early_stopping_ends_the_stage_and_the_next_stage_runs(tmp_path: Path) -> None:
    stop = "callbacks=[{EarlyStopping: {monitor: loss, patience: 0, min_delta: 100}}]"
    run = train(STAGES, tmp_path, "--set", stop)
    rows = history(run)
    assert [(int(r["epoch"]), r["stage"]) for r in rows] == [
        (1, "stage1"),
        (2, "stage1"),
        (4, "fine_tune"),
        (5, "fine_tune"),
    ]
    record = json.loads((run / "run.json").read_text())
    assert record["stages"] == [  # as trained: stage1 planned epochs 1-3, stopped after 2
        {"name": "stage1", "epochs": [1, 2]},
        {"name": "fine_tune", "epochs": [4, 5]},
    ]


@pytest.mark.parametrize(
    ("died_after", "resumed"),
    [
        (4, [(5, "fine_tune", 0.001)]),  # in the stage: its optimizer state comes back
        (3, [(4, "fine_tune", 0.001), (5, "fine_tune", 0.001)]),  # at the end of stage1
    ],
)
def test_a_run_resumes_in_the_stage_its_backup_was_written_in(
    tmp_path: Path, died_after: int, resumed: list[tuple[int, str, float]]
) -> None:
    (tmp_path / "stop.py").write_text(textwrap.dedent(STOP_AT))
    base = f"extends: {STAGES}\nplugins: [stop.py]\n"
    dies = tmp_path / "dies.yaml"
    dies.write_text(base + f"callbacks: [BackupAndRestore, {{StopAt: {{epoch: {died_after}}}}}]")
    again = tmp_path / "again.yaml"
    again.write_text(base + "callbacks: [BackupAndRestore]")
    runs = tmp_path / "runs"
    assert invoke("train", dies, "--runs-dir", runs, "--quiet").code == 1
    run = train(again, runs)
    rows = [(int(r["epoch"]), r["stage"], float(r["learning_rate"])) for r in history(run)]
    assert rows == [(e, s, pytest.approx(rate)) for e, s, rate in resumed]
    record = json.loads((run / "run.json").read_text())
    assert record["resumed_from"]["epoch"] == died_after + 1
    assert not Path(record["backup"]).exists()  # Keras removes it as the last stage ends


def test_validate_deep_checks_stage_names_inside_an_application(tmp_path: Path) -> None:
    """A layer name inside an application is known only once the model is built: `validate`
    cannot tell, `validate --deep` reports it as `train` would."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            name: t
            model:
              functional:
                inputs: {image: {shape: [32, 32, 3]}}
                layers:
                  backbone:
                    MobileNetV3Small: {include_top: false, weights: null, pooling: avg,
                                       minimalistic: true, trainable: false}
                    from: image
                  out: {Dense: [2], from: backbone}
                outputs: out
            compile: {optimizer: adam, loss: mse}
            stages:
              - epochs: 1
                trainable: {backbone: {from: expanded_conv_projectt}}
            """
        )
    )
    assert invoke("validate", spec).code == 0
    deep = invoke("validate", "--deep", spec)
    assert deep.code == 2
    assert f"{spec}:15:" in deep.err and "stages[0].trainable.backbone" in deep.err
    assert "(did you mean 'expanded_conv_project' or" in deep.err


def test_an_op_named_in_a_stage_is_no_layer(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            name: t
            model:
              functional:
                inputs: {x: {shape: [4]}}
                layers:
                  plus: {ops.add: {x2: 1.0}, from: x}
                  out: {Dense: [1], from: plus}
                outputs: out
            compile: {optimizer: adam, loss: mse}
            stages:
              - epochs: 1
                trainable: {plus: false}
            """
        )
    )
    result = invoke("validate", spec)
    assert result.code == 2
    assert f"{spec}:12:17: stages[0].trainable.plus: the model has no layer 'plus'" in result.err
