"""Broken specs: every mistake is reported at its exact file:line:column, with its key path.

Each fixture in `fixtures/broken/` holds one kind of mistake (or several, where the point is
that all are reported at once). `EXPECTED` gives the exact lines `kerascli validate` prints
for it, without the leading file name; `{dir}` stands for the fixture directory and a
trailing `...` makes the rest of the message free (long lists of Keras names).
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest

from kerascli.spec import SpecError, load_spec
from tests.conftest import SPECS

FIXTURES = Path(__file__).parent / "fixtures" / "broken"
UNSET_VARIABLE = "KERASCLI_TEST_UNSET_EPOCHS"

# Fixtures whose mistake only Keras finds: `validate --deep` builds the model.
DEEP = {
    "deep_add_mismatch",
    "deep_bad_value",
    "deep_conv_on_flat_input",
    "plugin_raises",
    "plugin_layer_arg_misspelt",
    "subclass_class_missing",
    "subclass_plugin_raises",
}

EXPECTED: dict[str, list[str]] = {
    # -- YAML syntax ---------------------------------------------------------------------
    "yaml_bad_indent": [
        "6:4: invalid YAML: bad indentation: this line does not line up with the keys above"
        " it (in the mapping that starts on line 4)"
    ],
    "yaml_unclosed_bracket": [
        "6:13: invalid YAML: unclosed '[': the file ends before it is closed"
    ],
    "yaml_mismatched_bracket": [
        "5:22: invalid YAML: expected ',' or ']', but got '}' (to close the '[' at line 5,"
        " column 20)"
    ],
    "yaml_env_in_flow": [
        "7:16: invalid YAML: expected ',' or '}', but got '{' (to close the '{' at line 7,"
        " column 6); inside [...] or {...}, quote ${VAR} as '${VAR}'"
    ],
    "yaml_tab": ["4:1: invalid YAML: a tab character; YAML indents with spaces only"],
    "yaml_unclosed_quote": ["2:7: invalid YAML: unclosed quote: the file ends before it is closed"],
    "yaml_colon_in_value": [
        "7:21: invalid YAML: mapping values are not allowed here (quote a value that contains"
        " ': ', or check the indentation)"
    ],
    "duplicate_key": ["8:1: fit: duplicate key 'fit' (first defined on line 3)"],
    "empty": ["1:1: a spec must be a mapping of sections, got an empty file"],
    "top_level_list": ["1:1: a spec must be a mapping of sections, got list"],
    # -- schema --------------------------------------------------------------------------
    "epochs_not_int": [
        "7:11: fit.epochs: Input should be a valid integer, unable to parse string as an"
        " integer (got 'ten')"
    ],
    "epochs_negative": ["7:11: fit.epochs: Input should be greater than 0 (got -3)"],
    "unknown_section": ["6:1: compil: unknown key 'compil' (did you mean 'compile'?)"],
    "unknown_fit_key": ["7:3: fit.epoch: unknown key 'epoch' (did you mean 'epochs'?)"],
    "missing_model": ["1:1: missing required key 'model'"],
    "missing_name": ["1:1: missing required key 'name'"],
    "bad_name": [
        "1:7: name: expected a name of letters, digits, '_', '.' and '-', starting with a"
        " letter or digit (got 'my model')"
    ],
    "two_model_kinds": [
        "7:3: model.functional: give exactly one of sequential, functional, subclass; got"
        " sequential and functional"
    ],
    "no_model_kind": ["2:8: model: give exactly one of sequential, functional, subclass"],
    "model_null": ["2:7: model: expected a mapping of keys to values (got null)"],
    "model_kind_misspelt": [
        "3:3: model.sequentail: unknown key 'sequentail' (did you mean 'sequential'?)"
    ],
    "input_shape_negative": [
        "4:24: model.sequential.input.shape[1]: Input should be greater than 0 (got -1)"
    ],
    "layer_args_not_mapping": [
        "6:16: model.sequential.layers[0].Dense: the arguments of Dense must be a mapping"
        " such as {units: 10} or a list of positional arguments, got int 3"
    ],
    "layer_two_classes": [
        "8:9: model.sequential.layers[0].activation: expected one class name, got 2 keys:"
        " Dense, activation"
    ],
    "data_split_fraction": ["11:11: data.split.test: Input should be less than 1 (got 1.5)"],
    "data_split_sum": [
        "9:10: data.split: validation + test must leave data to train on (sum < 1), got 0.5 + 0.5"
    ],
    "subclass_bad_class": [
        "4:12: model.subclass.class: expected 'path/to/file.py:ClassName' or"
        " 'package.module:ClassName' (got 'plugins/net.py')"
    ],
    "functional_two_layers": [
        "7:32: model.functional.layers.out.Dropout: expected exactly one layer such as"
        " Dense: {units: 8} (or reuse: NODE, or block: BLOCK), got Dense, Dropout"
    ],
    "functional_args_not_mapping": [
        "7:20: model.functional.layers.out.Dense: the arguments of Dense must be a mapping, got 3"
    ],
    "functional_missing_from": ["7:7: model.functional.layers.out: missing required key 'from'"],
    "functional_duplicate_node": [
        "8:7: model.functional.layers.hidden: duplicate key 'hidden' (first defined on line 7)"
    ],
    "env_unset": [
        f"7:11: fit.epochs: environment variable {UNSET_VARIABLE} is not set (write"
        f" ${{{UNSET_VARIABLE}:-default}} to give a default)"
    ],
    # -- Keras names and arguments -------------------------------------------------------
    "unknown_layer": [
        "6:9: model.sequential.layers[0].Dens: unknown layer 'Dens' (did you mean 'Dense'?)"
    ],
    "layer_arg_misspelt": [
        "6:17: model.sequential.layers[0].Dense.unitz: unknown argument 'unitz' for Dense"
        " (did you mean 'units'?)"
    ],
    "layer_arg_unknown": [
        "7:27: model.sequential.layers[0].Dense.qqqqqq: unknown argument 'qqqqqq' for Dense"
        " (Dense takes: activation, activity_regularizer, ..."
    ],
    "layer_missing_argument": [
        "6:9: model.sequential.layers[0].Dense: Dense needs the argument 'units'"
    ],
    "compile_no_loss": [
        "6:1: compile: no loss to train with: give compile.loss (e.g."
        " sparse_categorical_crossentropy for class labels, binary_crossentropy for two classes,"
        " mse for numbers)"
    ],
    "class_weight_two_outputs": [
        "14:3: fit.class_weight: class_weight applies to one-output models (Keras); this model"
        " has outputs a, b: weigh outputs with compile.loss_weights"
    ],
    "identifier_with_arguments": [
        "7:3: compile.optimizer: 'adam' takes no arguments; write Adam for arguments",
        "8:3: compile.loss: 'sparse_categorical_crossentropy' takes no arguments; write"
        " SparseCategoricalCrossentropy for arguments",
    ],
    "unknown_optimizer": [
        "7:15: compile.optimizer.Adamm: unknown optimizer 'Adamm' (did you mean 'Adam' or"
        " 'AdamW' or 'Adamax'?)"
    ],
    "unknown_loss": [
        "7:9: compile.loss: unknown loss 'mean_squared_eror' (did you mean"
        " 'mean_squared_error' or ..."
    ],
    "unknown_metric": [
        "8:18: compile.metrics[1]: unknown metric 'acuracy' (did you mean 'accuracy' or ..."
    ],
    "unknown_callback": [
        "7:5: callbacks[0].EarlyStoping: unknown callback 'EarlyStoping' (did you mean"
        " 'EarlyStopping'?)"
    ],
    "callback_arg_misspelt": [
        "7:40: callbacks[0].EarlyStopping.patiance: unknown argument 'patiance' for"
        " EarlyStopping (did you mean 'patience'?)"
    ],
    "unknown_initializer": [
        "8:32: model.sequential.layers[0].Dense.kernel_initializer.GlorotUnifrom: unknown"
        " initializer 'GlorotUnifrom' (did you mean 'GlorotUniform' or ..."
    ],
    "unknown_initializer_name": [
        "6:45: model.sequential.layers[0].Dense.bias_initializer: unknown initializer"
        " 'zeroes' (did you mean 'zeros' or ..."
    ],
    "unknown_regularizer": [
        "8:32: model.sequential.layers[0].Dense.kernel_regularizer.L3: unknown regularizer"
        " 'L3'; regularizers are: L1, L1L2, L2, ..."
    ],
    "unknown_activation": [
        "6:39: model.sequential.layers[0].Dense.activation: unknown activation 'rellu'"
        " (did you mean 'relu' or ..."
    ],
    "nested_arg_misspelt": [
        "10:56: compile.optimizer.Adam.learning_rate.ExponentialDecay.decay_step: unknown"
        " argument 'decay_step' for ExponentialDecay (did you mean 'decay_steps' or ..."
    ],
    "loss_unknown_output": [
        "13:5: compile.loss.sise: 'sise' is not a model output (did you mean 'size'?);"
        " outputs: species, size",
        "15:5: compile.metrics.specie: 'specie' is not a model output (did you mean 'species'"
        " or 'size'?); outputs: species, size",
    ],
    # -- Functional graphs ---------------------------------------------------------------
    "functional_cycle": [
        "7:7: model.functional.layers.a: cycle in the layer graph: a -> b -> c -> a"
    ],
    "functional_dangling_from": [
        "8:38: model.functional.layers.out.from: unknown node or input 'hiden' (did you mean"
        " 'hidden'?)"
    ],
    "functional_unknown_output": [
        "9:20: model.functional.outputs[1]: unknown output node 'prediction'; nodes: hidden, out"
    ],
    "functional_unused_input": [
        "6:7: model.functional.inputs.extra: input 'extra' is not used by any node"
    ],
    "functional_node_named_like_input": [
        "8:7: model.functional.layers.x: node 'x' has the same name as an input"
    ],
    "functional_reuse_unknown": [
        "9:25: model.functional.layers.encode_b.reuse: reuse names no layer node 'encoder'"
        " (did you mean 'encode_b' or 'encode_a'?)"
    ],
    # -- files: plugins, subclass, data --------------------------------------------------
    "plugin_missing_file": ["2:11: plugins[0]: plugin file not found: {dir}/plugins/nowhere.py"],
    "plugin_layer_arg_misspelt": [
        "8:17: model.sequential.layers[0].Scale.nmae: unknown argument 'nmae' for Scale"
        " (did you mean 'name'?)"
    ],
    "plugin_raises": [
        "4:5: plugins[0]: plugin '{dir}/plugins/boom.py' failed to import: RuntimeError:"
        " plugin exploded on import"
    ],
    "subclass_missing_file": [
        "4:12: model.subclass.class: model file not found: {dir}/plugins/nowhere.py"
    ],
    "subclass_class_missing": [
        "6:12: model.subclass.class: no class 'Net' in {dir}/plugins/net.py (it defines:"
        " Scale, TinyNet)"
    ],
    "subclass_plugin_raises": [
        "5:12: model.subclass.class: plugin '{dir}/plugins/boom.py' failed to import:"
        " RuntimeError: plugin exploded on import"
    ],
    "data_missing_file": ["7:9: data.path: data file not found: {dir}/nowhere.csv"],
    "data_unknown_target": [
        "9:11: data.target: no column 'specie' in iris.csv (did you mean 'species'?)"
    ],
    "data_unknown_feature": [
        "8:28: data.features[1]: no column 'sepal_widht' in iris.csv (did you mean"
        " 'sepal_width' or ..."
    ],
    # -- data sources: folders, TFRecord, streams, augmentation ----------------------------
    "data_augment_unknown_layer": [
        "11:7: data.augment[1].GaussianNoize: unknown layer 'GaussianNoize' (did you mean"
        " 'GaussianNoise' or 'GaussianDropout'?)"
    ],
    "data_folder_not_found": ["7:9: data.path: folder not found: {dir}/digit_images"],
    "data_image_size": [
        "10:17: data.images.image_size: data.images.image_size [32, 32] makes images of shape"
        " [32, 32, 1]; the model input has shape [28, 28, 1]: give image_size [28, 28]"
    ],
    "data_tfrecord_features": [
        "13:13: data.features: feature 'pixels' of shape [4] holds 4 values; the input of shape"
        " [8] needs 8",
        "14:11: data.target: no feature 'labels' in data.tfrecord.features (did you mean 'label'?)",
    ],
    "data_stream_split": [
        "10:38: data.split.stratify: a stream splits by hash; stratify needs data in memory or a"
        " folder: remove stratify (a hash split keeps class proportions in expectation)",
        "10:44: data.split.by_file: split.by_file splits the files of a glob; data.path is one"
        " file",
    ],
    # -- Keras build errors (validate --deep) --------------------------------------------
    "deep_conv_on_flat_input": [
        "9:9: model.sequential.layers[1].Conv2D: cannot add Conv2D after Dense (layers[0]): Input 0 ..."
    ],
    "deep_add_mismatch": [
        "10:15: model.functional.layers.total.Add: cannot call Add 'total': Inputs have"
        " incompatible shapes. Received shapes (8,) and (2,)"
    ],
    "deep_bad_value": [
        "9:25: model.sequential.layers[1].Dropout.rate: Dropout: Invalid value received for"
        " argument `rate`. ..."
    ],
    # -- several mistakes in one spec: all reported, in file order -----------------------
    "three_schema_errors": [
        "8:11: fit.epochs: Input should be a valid integer, unable to parse string as an"
        " integer (got 'ten')",
        "9:3: fit.batchsize: unknown key 'batchsize' (did you mean 'batch_size'?)",
        "11:16: compile.run_eagerly: Input should be a valid boolean, unable to interpret"
        " input (got 'maybe')",
    ],
    "three_name_errors": [
        "7:9: model.sequential.layers[0].Dens: unknown layer 'Dens' (did you mean 'Dense'?)",
        "8:17: model.sequential.layers[1].Dense.unitz: unknown argument 'unitz' for Dense"
        " (did you mean 'units'?)",
        "9:13: callbacks[0]: unknown callback 'EarlyStoping' (did you mean 'EarlyStopping'?)",
    ],
}


def _matches(line: str, expected: str) -> bool:
    if expected.endswith("..."):
        return line.startswith(expected[:-3])
    return line == expected


def _expected_lines(name: str) -> list[str]:
    spec = FIXTURES / f"{name}.yaml"
    return [f"{spec}:{e.replace('{dir}', str(FIXTURES))}" for e in EXPECTED[name]]


@pytest.fixture(autouse=True)
def _no_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)


def test_every_fixture_has_expected_lines() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.yaml")) == sorted(EXPECTED)
    assert DEEP <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_spec(cli, name: str) -> None:
    spec = FIXTURES / f"{name}.yaml"
    result = cli("validate", spec, *(["--deep"] if name in DEEP else []))
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert result.out == ""
    lines = [line for line in result.err.splitlines() if line.startswith(f"{spec}:")]
    expected = _expected_lines(name)
    assert len(lines) == len(expected), result.err
    for line, want in zip(lines, expected, strict=True):
        assert _matches(line, want), f"\n got: {line}\nwant: {want}"
    n = len(expected)
    assert result.err.splitlines()[-1] == f"{n} problem{'s' if n > 1 else ''} in 1 of 1 spec(s)"


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - DEEP))
def test_load_spec_raises_the_same_problems(name: str) -> None:
    """The library reports what the CLI prints: located `Problem`s in a `SpecError`."""
    with pytest.raises(SpecError) as info:
        load_spec(FIXTURES / f"{name}.yaml")
    got = [str(p) for p in info.value.problems]
    expected = _expected_lines(name)
    assert len(got) == len(expected)
    assert all(_matches(g, e) for g, e in zip(got, expected, strict=True)), got


def test_json_errors_are_located(cli) -> None:
    spec = FIXTURES / "three_name_errors.yaml"
    result = cli("validate", spec, "--json")
    assert result.code == 2
    document = json.loads(result.out)
    assert document["ok"] is False
    (entry,) = document["specs"]
    assert entry["file"] == str(spec) and entry["ok"] is False
    assert entry["errors"][0] == {
        "message": "unknown layer 'Dens' (did you mean 'Dense'?)",
        "path": "model.sequential.layers[0].Dens",
        "file": str(spec),
        "line": 7,
        "column": 9,
    }
    assert [(e["line"], e["column"], e["path"]) for e in entry["errors"][1:]] == [
        (8, 17, "model.sequential.layers[1].Dense.unitz"),
        (9, 13, "callbacks[0]"),
    ]


def test_json_errors_of_other_commands(cli) -> None:
    """A command other than `validate` fails with `{"ok": false, "errors": [...]}`."""
    spec = FIXTURES / "unknown_fit_key.yaml"
    result = cli("config", spec, "--json")
    assert result.code == 2
    assert json.loads(result.out) == {
        "ok": False,
        "errors": [
            {
                "message": "unknown key 'epoch' (did you mean 'epochs'?)",
                "path": "fit.epoch",
                "file": str(spec),
                "line": 7,
                "column": 3,
            }
        ],
    }


@pytest.mark.parametrize("command", ["validate", "config"])
def test_debug_shows_the_traceback(cli, command: str) -> None:
    spec = FIXTURES / "unknown_layer.yaml"
    plain = cli(command, spec)
    debug = cli(command, spec, "--debug")
    assert plain.code == debug.code == 2
    assert "Traceback" not in plain.err
    assert "Traceback (most recent call last)" in debug.err
    assert "kerascli.spec.problems.SpecError" in debug.err
    assert f"{spec}:6:9: model.sequential.layers[0].Dens: unknown layer 'Dens'" in debug.err


def test_several_specs_report_each(cli) -> None:
    good, bad = SPECS / "iris_mlp.yaml", FIXTURES / "unknown_layer.yaml"
    result = cli("validate", good, bad)
    assert result.code == 2
    assert f"ok {good}" in result.out
    assert f"{bad}:6:9:" in result.err
    assert result.err.splitlines()[-1] == "1 problem in 1 of 2 spec(s)"


def test_override_problems_name_the_option(cli) -> None:
    result = cli(
        "validate", SPECS / "iris_mlp.yaml", "--set", "fit.epochs=ten", "--set", "fit.epoch=3"
    )
    assert result.code == 2
    assert result.err.splitlines()[:2] == [
        "--set fit.epoch=3: fit.epoch: unknown key 'epoch' (did you mean 'epochs'?)",
        "--set fit.epochs=ten: fit.epochs: Input should be a valid integer, unable to parse"
        " string as an integer (got 'ten')",
    ]


def test_shipped_specs_are_valid_deep(cli) -> None:
    """No false alarms: every shipped example passes the checks and builds."""
    specs = sorted(SPECS.glob("*.yaml"))
    result = cli("validate", "--deep", *specs)
    assert result.code == 0, result.err
    # (a spec with search spaces says how many after its name)
    assert [line.split()[:2] for line in result.out.splitlines()] == [["ok", str(s)] for s in specs]


def test_spec_error_keeps_the_keras_cause() -> None:
    """A located build error chains Keras's own exception (what `--debug` prints)."""
    from kerascli.model.builder import build_model

    spec = load_spec(FIXTURES / "deep_add_mismatch.yaml")
    with pytest.raises(SpecError) as info:
        build_model(spec)
    cause = info.value.__cause__
    assert isinstance(cause, ValueError)
    assert "incompatible shapes" in "".join(traceback.format_exception(cause))
