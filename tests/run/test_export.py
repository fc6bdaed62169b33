"""`kerascli export`: each format's artifact run in its own runtime against the Keras model
(parity) on two shipped examples, TF Serving's layout, gates, quantization and refusals."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from kerascli.cli.errors import sigterm_as_interrupt
from kerascli.run.export import export_run
from kerascli.run.export_formats import FORMATS, Format, check_inputs, check_installed
from kerascli.run.export_guards import exported_run, interrupts_kept
from kerascli.run.export_parity import Parity, _Tally, parity_gates
from kerascli.run.gates import check_gates
from kerascli.run.rundir import HOST, Terminated, now
from kerascli.spec import load_spec
from kerascli.spec.problems import KerasCliError, SpecError
from tests.conftest import invoke, train_example

from .conftest import SPECS

TEST_ROWS = {"iris": 30, "wine": 36, "digits": 269}  # the test splits (20%, 20%, 15%)
INPUTS = {"iris": "input_layer", "wine": "features", "digits": "input_layer"}
CLASSES = {
    "iris": {"output_0": ["setosa", "versicolor", "virginica"]},
    "wine": {"output_0": ["class_0", "class_1", "class_2"]},
    "digits": None,  # integer labels: no class names
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, iris_run: Path) -> dict[str, Path]:
    """An iris run (the session's, copied: exports write into it), 2-epoch wine and digits
    runs."""
    iris = tmp_path_factory.mktemp("export") / "iris-mlp" / "1"  # as deep as the session's:
    shutil.copytree(iris_run, iris)  # its spec.yaml names the data relative to the run
    return {
        "iris": iris,
        "wine": train_example(tmp_path_factory, "wine_residual", 2),
        "digits": train_example(tmp_path_factory, "digits_cnn", 2),
    }


@pytest.mark.slow
@pytest.mark.parametrize("example", ["iris", "wine", "digits"])
@pytest.mark.parametrize("fmt", ["saved_model", "onnx", "litert"])
def test_parity_of_each_format(runs: dict[str, Path], example: str, fmt: str) -> None:
    out = runs[example].parent / f"{example}-{fmt}"
    result = export_run(runs[example], fmt, out)
    metrics = result.parity.metrics()
    assert metrics["rows"] == TEST_ROWS[example]
    # measured: SavedModel 0; ONNX and LiteRT (kernels of their own) 1e-7 to 7e-7
    assert metrics["max_abs_diff"] <= 1e-4, metrics
    assert metrics["class_agreement"] == 1.0
    assert metrics["accuracy_change"] == 0.0
    assert metrics["export_nonfinite"] == 0
    # no --require: the default gate, and the one every export is held to
    assert [(str(g.gate), g.passed) for g in result.gates] == [
        ("max_abs_diff<0.001", True),
        ("export_nonfinite==0", True),
    ]
    assert result.inputs == [INPUTS[example]]
    assert result.outputs == ["output_0"]
    artifact = {
        "saved_model": out / "1",
        "onnx": out / "model.onnx",
        "litert": out / "model.tflite",
    }
    assert result.path == artifact[fmt]
    beside = result.path if fmt == "saved_model" else out
    parity = json.loads((beside / "parity.json").read_text())
    assert parity["parity"]["metrics"] == pytest.approx(metrics)
    classes = beside / "classes.json"
    assert (json.loads(classes.read_text()) if classes.exists() else None) == CLASSES[example]
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging left


@pytest.mark.slow
def test_saved_model_serving_layout_signature_and_versions(runs: dict[str, Path]) -> None:
    import tensorflow as tf

    run = runs["wine"]
    first = invoke("export", run, "--format", "saved_model", "--json")
    assert first.code == 0, first.err
    base = run / "export" / "saved_model"
    assert first.json()["path"] == str(base / "1")
    assert (base / "1" / "saved_model.pb").is_file() and (base / "1" / "variables").is_dir()
    serve = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["features"]  # the spec's input name
    assert list(serve.structured_outputs) == ["output_0"]
    # never over version 1; the run's model.keras is the run (recorded in its run.json)
    assert invoke("export", run / "model.keras", "--json").json()["version"] == 2
    taken = invoke("export", run, "--version", "2")
    assert taken.code == 2 and "version 2 exists" in taken.err
    assert invoke("export", run, "--version", "7", "--json").json()["path"] == str(base / "7")
    assert sorted(p.name for p in base.iterdir()) == ["1", "2", "7"]
    record = json.loads((run / "run.json").read_text())
    assert [e["version"] for e in record["exports"] if e["format"] == "saved_model"][-3:] == [
        1,
        2,
        7,
    ]


@pytest.mark.slow
def test_normalization_exports_to_onnx_that_onnxruntime_runs(runs: dict[str, Path]) -> None:
    """Keras's own ONNX export makes an adapted Normalization's mean and variance extra graph
    inputs (onnxruntime asks for them); kerascli's ONNX has the one input, and gives the Keras
    model's probabilities on raw measurements (the normalization is inside the graph)."""
    import onnxruntime

    from kerascli.run.saved_run import load_run

    result = export_run(runs["iris"], "onnx", runs["iris"].parent / "iris-norm")
    assert result.path is not None
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_layer"]
    raw = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
    model = load_run(runs["iris"]).model
    (probabilities,) = session.run(None, {"input_layer": raw})
    np.testing.assert_allclose(probabilities, model.predict(raw, verbose=0), atol=1e-5)
    # the Keras bug worked around (`export_formats._write_onnx`): drop the workaround once
    # this fails, i.e. once `model.export(format="onnx")` gives the one input itself
    model(raw)  # (a loaded Sequential model must be called before Keras's ONNX export)
    model.export(str(runs["iris"].parent / "keras.onnx"), format="onnx", verbose=False)
    keras_own = onnxruntime.InferenceSession(str(runs["iris"].parent / "keras.onnx"))
    assert len(keras_own.get_inputs()) == 3


@pytest.mark.slow
def test_failed_gate_exits_3_and_publishes_nothing(runs: dict[str, Path]) -> None:
    run, out = runs["iris"], runs["iris"].parent / "gated"
    result = invoke("export", run, "-f", "onnx", "-o", out, "--require", "max_abs_diff<0", "--json")
    assert result.code == 3
    document = result.json()
    assert document["ok"] is False and document["published"] is False
    assert [g["gate"] for g in document["gates"]] == ["max_abs_diff<0", "export_nonfinite==0"]
    assert document["gates"][0]["passed"] is False
    assert not out.exists()  # nor the directory it made
    record = json.loads((run / "run.json").read_text())
    assert record["exports"][-1]["published"] is False
    unknown = invoke("export", run, "-f", "onnx", "-o", out, "--require", "accuracy>0.5")
    assert unknown.code == 2 and "no metric 'accuracy'" in unknown.err


@pytest.mark.slow
def test_quantized_litert_reports_the_accuracy_change(runs: dict[str, Path]) -> None:
    run = runs["digits"]
    result = invoke(
        "export", run, "-f", "litert", "--quantize", "--data", SPECS / "data/digits.npz"
    )
    assert result.code == 0, result.err
    assert "accuracy_change" in result.out and "1797 rows" in result.out
    quantized = run / "export" / "litert-quantized"
    parity = json.loads((quantized / "parity.json").read_text())
    metrics = parity["parity"]["metrics"]
    assert parity["quantized"] is True and metrics["rows"] == 1797
    assert [g["gate"] for g in parity["gates"]] == ["export_nonfinite==0"]  # no default diff gate
    change = metrics["export_accuracy"] - metrics["keras_accuracy"]
    assert metrics["accuracy_change"] == pytest.approx(change)
    assert abs(change) <= 0.02 and metrics["max_abs_diff"] < 0.05  # int8 weights
    float32 = export_run(run, "litert", run.parent / "digits-float")
    assert parity["size_bytes"] < float32.size_bytes / 2  # measured 46 KiB of 154 KiB


def test_quantize_and_version_are_refused_for_other_formats(tmp_path: Path) -> None:
    quantized = invoke("export", tmp_path, "--format", "onnx", "--quantize")
    assert quantized.code == 2 and "--quantize is for --format litert only" in quantized.err
    versioned = invoke("export", tmp_path, "--format", "litert", "--version", "2")
    assert versioned.code == 2 and "--version is for --format saved_model only" in versioned.err
    unknown = invoke("export", tmp_path, "--format", "tflite")  # the names are FORMATS'
    assert unknown.code == 2 and "formats: saved_model, onnx, litert" in unknown.err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_package_names_the_extra() -> None:
    fmt = Format("onnx", "model.onnx", "onnxruntime", ("kerascli_no_such_module",), False)
    with pytest.raises(KerasCliError, match=r"pip install 'kerascli\[export\]'"):
        check_installed(fmt)


def test_string_inputs_are_refused_where_the_format_cannot_carry_them() -> None:
    spec = load_spec(SPECS / "texts_folder.yaml")
    check_inputs(FORMATS["saved_model"], spec)
    for name in ("onnx", "litert"):
        with pytest.raises(SpecError, match="dtype string"):
            check_inputs(FORMATS[name], spec)


def test_tally_of_a_sigmoid_unit_and_a_regression_output() -> None:
    binary = _Tally("binary")
    keras = np.array([[0.2], [0.7], [0.51]])
    binary.add(keras, np.array([[0.2], [0.7], [0.49]]), np.array([0, 1, 1]))
    figures = binary.metrics()
    assert figures["class_agreement"] == pytest.approx(2 / 3)
    assert figures["keras_accuracy"] == 1.0 and figures["accuracy_change"] == pytest.approx(-1 / 3)
    assert figures["max_abs_diff"] == pytest.approx(0.02)
    logits = _Tally("binary", logits=True)  # a logit >= 0 is class 1
    logits.add(np.array([[0.3], [-2.0]]), np.array([[-0.1], [-2.0]]), np.array([1, 0]))
    assert logits.metrics()["class_agreement"] == 0.5
    assert logits.metrics()["accuracy_change"] == -0.5
    regression = _Tally("")
    regression.add(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]), np.array([1.0, 3.0]))
    assert regression.metrics()["mae_change"] == pytest.approx(0.25)
    assert "class_agreement" not in regression.metrics()
    soft = _Tally("binary")
    soft.add(np.array([[0.9], [0.2]]), np.array([[0.9], [0.2]]), np.array([1.0, 0.3]))
    assert "keras_accuracy" not in soft.metrics()  # soft labels are not classes to score


def _parity(keras: list[list[float]], export: list[list[float]]) -> Parity:
    tally = _Tally("sparse")
    tally.add(np.array(keras), np.array(export), np.array([1, 0]))
    return Parity(2, {"output_0": tally.metrics()})


def _verdicts(parity: Parity, require: list[str], quantize: bool = False) -> dict[str, bool]:
    gates = check_gates(parity_gates(require, quantize), parity.metrics())
    return {str(r.gate): r.passed for r in gates}


def test_without_require_a_default_gate_holds_the_export() -> None:
    """No `--require`: `max_abs_diff<1e-3` (none for a quantized LiteRT model), and an output
    the artifact makes NaN or infinite where Keras's is finite fails always."""
    off = _parity([[0.1, 0.9], [0.8, 0.2]], [[0.4, 0.6], [0.8, 0.2]])  # 0.3 off, same classes
    assert off.metrics()["max_abs_diff"] == pytest.approx(0.3)
    assert off.metrics()["class_agreement"] == 1.0
    assert _verdicts(off, []) == {"max_abs_diff<0.001": False, "export_nonfinite==0": True}
    assert _verdicts(off, [], quantize=True) == {"export_nonfinite==0": True}
    assert _verdicts(off, ["max_abs_diff<0.5"]) == {  # --require replaces the default
        "max_abs_diff<0.5": True,
        "export_nonfinite==0": True,
    }
    nan = _parity([[0.1, 0.9], [0.8, 0.2]], [[np.nan, 0.9], [0.8, np.inf]])
    assert nan.metrics()["export_nonfinite"] == 2
    assert _verdicts(nan, [], quantize=True) == {"export_nonfinite==0": False}
    assert _verdicts(nan, ["rows>0"]) == {"rows>0": True, "export_nonfinite==0": False}
    both = _parity([[np.nan, 1.0], [np.inf, 0.0]], [[np.nan, 1.0], [np.inf, 0.0]])
    assert both.metrics()["max_abs_diff"] == 0.0 and both.metrics()["export_nonfinite"] == 0


@pytest.mark.slow
def test_unlabelled_data_compares_outputs_and_classes(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    """`--data` without the target column: parity on the inputs alone, no accuracy figures;
    a gate on one is refused before anything is exported."""
    lines = (SPECS / "data/iris.csv").read_text().splitlines()
    unlabelled = tmp_path / "iris_inputs.csv"
    unlabelled.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    args = ("export", runs["iris"], "-f", "onnx", "--data", unlabelled)
    result = invoke(*args, "-o", tmp_path / "onnx", "--quiet", "--json")
    assert result.code == 0, result.err
    assert "exporting to" not in result.err  # --quiet: no progress lines
    document = result.json()
    metrics = document["parity"]["metrics"]
    assert document["labelled"] is False and metrics["rows"] == 150
    assert metrics["class_agreement"] == 1.0 and "keras_accuracy" not in metrics
    gated = invoke(*args, "-o", tmp_path / "gated", "--require", "accuracy_change>=0")
    assert gated.code == 2 and "accuracy_change needs targets" in gated.err
    assert not (tmp_path / "gated").exists()


class _CtrlCWhileTraced:
    """A tf.function argument whose hash delivers SIGINT to this process. It has no weak
    reference, so TensorFlow's tracing hashes it inside a bare `except` that makes the
    KeyboardInterrupt a `TypeError` (what a Ctrl-C during the SavedModel's parity check was
    once reported as: a broken artifact, exit 1)."""

    __slots__ = ()

    def __hash__(self) -> int:
        signal.raise_signal(signal.SIGINT)
        return 0


def test_an_interrupt_tensorflow_makes_an_error_of_ends_as_an_interrupt() -> None:
    import tensorflow as tf

    traced = tf.function(lambda x: 1)
    with pytest.raises(TypeError, match="generic TraceType"):  # TensorFlow's own doing
        traced(_CtrlCWhileTraced())
    with pytest.raises(KeyboardInterrupt) as interrupted, interrupts_kept():
        traced(_CtrlCWhileTraced())
    assert type(interrupted.value) is KeyboardInterrupt
    assert isinstance(interrupted.value.__cause__, TypeError)
    with pytest.raises(KeyboardInterrupt), interrupts_kept():
        with interrupts_kept():  # (as `_export`'s, inside `export_run`'s)
            with contextlib.suppress(BaseException):  # swallowed whole
                signal.raise_signal(signal.SIGINT)
        pytest.fail("the inner block must end as an interrupt, before anything is published")
    with pytest.raises(Terminated), sigterm_as_interrupt(), interrupts_kept():
        with contextlib.suppress(BaseException):  # SIGTERM under the CLI: exit 143
            os.kill(os.getpid(), signal.SIGTERM)
    with interrupts_kept():  # none arrived: the block ends as it ends
        traced(1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _run_dir(tmp_path: Path, **record: object) -> Path:
    run = tmp_path / "runs" / "iris-mlp" / "1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"name": "iris-mlp", "n": 1, **record}))
    (run / "model.keras").write_bytes(b"")  # refused before it is read
    return run


@pytest.mark.parametrize(
    ("record", "said"),
    [
        ({"status": "failed"}, "is marked failed, not completed"),
        ({"status": "interrupted"}, "is marked interrupted, not completed"),
        ({"status": "running", "pid": os.getpid(), "started": now()}, "is still running"),
        ({"status": "running", "pid": 2**23 + 1, "started": now()}, "is dead"),
    ],
)
def test_only_a_completed_run_is_exported(
    tmp_path: Path, record: dict[str, object], said: str
) -> None:
    run = _run_dir(tmp_path, host=HOST, **record)
    for target in (run, run / "model.keras"):  # its model file is the run
        refused = invoke("export", target, "-f", "saved_model")
        assert refused.code == 2 and said in refused.err, refused.err
    assert sorted(p.name for p in run.iterdir()) == ["model.keras", "run.json"]
    bare = tmp_path / "model.keras"  # a model file outside a run: nothing to check
    shutil.copy(run / "model.keras", bare)
    assert exported_run(bare) is None and exported_run(run / "run.json") is None
