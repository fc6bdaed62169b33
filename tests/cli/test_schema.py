"""`kerascli schema`: a JSON Schema that accepts every shipped spec and rejects broken ones."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kerascli.cli.app import main
from kerascli.spec import SpecError, load_spec_dict
from kerascli.spec.loader import spec_from_document
from kerascli.spec.schema import SCHEMA_FILE
from kerascli.spec.source import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "model_specs").glob("*.yaml"))
TEMPLATES_DIR = ROOT / "kerascli" / "templates"
TEMPLATES = sorted(TEMPLATES_DIR.glob("*.yaml"))

# Prints the schema, then fails if printing it imported TensorFlow or Keras.
NO_TENSORFLOW = """
import sys
from kerascli.cli.app import main
try:
    main(["schema"])
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
assert not heavy, f"kerascli schema imported {heavy}"
"""


@pytest.fixture(scope="module")
def schema_out() -> str:
    """stdout of `kerascli schema` run in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def schema(schema_out: str) -> dict[str, Any]:
    return json.loads(schema_out)


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run kerascli in-process; return its exit code and stdout."""
    capsys.readouterr()
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    return code, capsys.readouterr().out


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_output_file_equals_stdout(
    schema_out: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "editor" / SCHEMA_FILE
    code, _ = run_cli(capsys, "schema", "--output", str(target))
    assert code == 0
    assert target.read_text(encoding="utf-8") == schema_out
    code, out = run_cli(capsys, "schema", "--json")
    assert code == 0
    assert json.loads(out) == json.loads(schema_out)


@pytest.mark.parametrize("path", EXAMPLES + TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_specs_validate(validator: Draft202012Validator, path: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_load(path))]
    assert errors == []


def test_catalog_names_arguments_and_docs(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    dense = defs["LayerClasses"]["properties"]["Dense"]
    assert dense["description"] == "Just your regular densely-connected NN layer."
    assert dense["required"] == ["units"]
    assert dense["additionalProperties"] is False
    assert dense["properties"]["use_bias"] == {"default": True}
    assert dense["properties"]["kernel_initializer"]["$ref"] == "#/$defs/Initializer"
    assert {"adam", "Adam"} <= set(defs["OptimizerName"]["enum"])
    assert {"mse", "MeanSquaredError"} <= set(defs["LossName"]["enum"])
    assert {"accuracy", "AUC"} <= set(defs["MetricName"]["enum"])
    assert "EarlyStopping" in defs["CallbackName"]["enum"]
    # ModelCheckpoint's filepath defaults to the run directory, so it is not required here.
    assert "required" not in defs["CallbackClasses"]["properties"]["ModelCheckpoint"]


def _fields(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every field of every spec section: (section, field, its schema)."""
    sections = {"Spec": schema}
    for name, section in schema["$defs"].items():
        if name.endswith("Spec") and not name.startswith("Complete") or name == "FunctionalNode":
            sections[name] = section
    for name, section in sections.items():
        for field, prop in section["properties"].items():
            yield name, field, prop


def test_every_section_and_field_is_described(schema: dict[str, Any]) -> None:
    fields = list(_fields(schema))
    assert len(fields) > 50
    undescribed = [f"{s}.{f}" for s, f, prop in fields if not prop.get("description")]
    assert undescribed == []
    for section in ("model", "compile", "fit", "callbacks", "data"):
        assert schema["properties"][section]["description"]
    assert schema["properties"]["fit"]["$ref"] == "#/$defs/FitSpec"
    assert schema["$defs"]["FitSpec"]["properties"]["epochs"]["examples"] == [30]


# --- broken specs: one change to a valid spec, located where `kerascli validate` points -----

Change = Callable[[dict[str, Any]], None]


def _set(path: tuple[Any, ...], value: Any) -> Change:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: tuple[Any, ...]) -> Change:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


SEQ = ("model", "sequential", "layers")
FUN = ("model", "functional", "layers")
BROKEN: dict[str, tuple[str, Change, tuple[Any, ...], str]] = {
    # id: (template, change, where the schema reports it, JSON Schema keyword)
    "unknown top-level key": ("mlp", _set(("fitt",), {}), (), "additionalProperties"),
    "name with a space": ("mlp", _set(("name",), "iris mlp"), ("name",), "pattern"),
    "seed not a number": ("mlp", _set(("seed",), "abc"), ("seed",), "type"),
    "unclosed interpolation": (
        "mlp",
        _set(("fit", "epochs"), "${EPOCHS"),
        ("fit", "epochs"),
        "type",
    ),
    "interpolation after a number": (
        "mlp",
        _set(("seed",), "7${SEED}"),
        ("seed",),
        "type",
    ),
    "interpolated layer class (keys are not substituted)": (
        "mlp",
        _set((*SEQ, 1), {"${LAYER}": {"units": 8}}),
        (*SEQ, 1),
        "enum",
    ),
    "unknown layer name": ("mlp", _set((*SEQ, 1), {"Dnse": {"units": 8}}), (*SEQ, 1), "enum"),
    "unknown bare layer name": ("cnn", _set((*SEQ, 4), "Flaten"), (*SEQ, 4), "enum"),
    "misspelt Dense argument": (
        "mlp",
        _set((*SEQ, 1, "Dense", "unitz"), 8),
        (*SEQ, 1, "Dense"),
        "additionalProperties",
    ),
    "Dense without units": (
        "mlp",
        _drop((*SEQ, 1, "Dense", "units")),
        (*SEQ, 1, "Dense"),
        "required",
    ),
    "misspelt regularizer argument": (
        "mlp",
        _set((*SEQ, 1, "Dense", "kernel_regularizer"), {"L2": {"l3": 0.1}}),
        (*SEQ, 1, "Dense", "kernel_regularizer", "L2"),
        "additionalProperties",
    ),
    "epochs as a string": ("mlp", _set(("fit", "epochs"), "ten"), ("fit", "epochs"), "type"),
    "epochs zero": ("mlp", _set(("fit", "epochs"), 0), ("fit", "epochs"), "exclusiveMinimum"),
    "epochs negative": (
        "mlp",
        _set(("fit", "epochs"), -3),
        ("fit", "epochs"),
        "exclusiveMinimum",
    ),
    "unknown fit key": ("mlp", _set(("fit", "epochz"), 3), ("fit",), "additionalProperties"),
    "two model kinds": (
        "mlp",
        _set(("model", "subclass"), {"class": "net.py:Net", "input": {"shape": [4]}}),
        ("model",),
        "maxProperties",
    ),
    "no model kind": ("mlp", _set(("model",), {}), ("model",), "minProperties"),
    "unknown optimizer": (
        "mlp",
        _set(("compile", "optimizer"), "adamm"),
        ("compile", "optimizer"),
        "enum",
    ),
    "misspelt optimizer argument": (
        "mlp",
        _set(("compile", "optimizer"), {"Adam": {"lr": 0.1}}),
        ("compile", "optimizer", "Adam"),
        "additionalProperties",
    ),
    "unknown loss": ("mlp", _set(("compile", "loss"), "msee"), ("compile", "loss"), "enum"),
    "unknown metric": (
        "mlp",
        _set(("compile", "metrics"), ["acuracy"]),
        ("compile", "metrics", 0),
        "enum",
    ),
    "unknown callback": ("mlp", _set(("callbacks", 0), "EarlyStoping"), ("callbacks", 0), "enum"),
    "misspelt callback argument": (
        "mlp",
        _set(("callbacks", 0, "EarlyStopping", "patiense"), 3),
        ("callbacks", 0, "EarlyStopping"),
        "additionalProperties",
    ),
    "split fraction above 1": (
        "mlp",
        _set(("data", "split", "validation"), 1.5),
        ("data", "split", "validation"),
        "exclusiveMaximum",
    ),
    "path and train": ("mlp", _set(("data", "train"), "data/iris.csv"), ("data",), "not"),
    "node with two layers": (
        "functional",
        _set((*FUN, "hidden", "Dropout"), {"rate": 0.1}),
        (*FUN, "hidden"),
        "maxProperties",
    ),
    "node with an unknown layer": (
        "functional",
        _set((*FUN, "hidden"), {"Dnse": {"units": 8}, "from": "merged"}),
        (*FUN, "hidden"),
        "enum",
    ),
    "node without from": (
        "functional",
        _drop((*FUN, "hidden", "from")),
        (*FUN, "hidden"),
        "required",
    ),
    "misspelt argument in a node": (
        "functional",
        _set((*FUN, "hidden", "Dense", "unitz"), 8),
        (*FUN, "hidden", "Dense"),
        "additionalProperties",
    ),
    "unknown loss of an output": (
        "functional",
        _set(("compile", "loss"), {"species": "msee"}),
        ("compile", "loss", "species"),
        "enum",
    ),
    "unknown metric of an output": (
        "functional",
        _set(("compile", "metrics"), {"species": ["acc2"]}),
        ("compile", "metrics", "species", 0),
        "enum",
    ),
    "subclass with input and inputs": (
        "subclass",
        _set(("model", "subclass", "inputs"), {"x": {"shape": [4]}}),
        ("model", "subclass"),
        "not",
    ),
    # -- data sources (issue 10) ------------------------------------------------------------
    "unknown augment layer": (
        "mlp",
        _set(("data", "augment"), ["RandomFlp"]),
        ("data", "augment", 0),
        "enum",
    ),
    "unknown augment layer by input name": (
        "functional",
        _set(("data", "augment"), {"sepal": [{"RandomZom": {"height_factor": 0.1}}]}),
        ("data", "augment", "sepal", 0),
        "enum",
    ),
    "misspelt augment argument": (
        "mlp",
        _set(("data", "augment"), [{"RandomFlip": {"mod": "horizontal"}}]),
        ("data", "augment", 0, "RandomFlip"),
        "additionalProperties",
    ),
    "images and text": (
        "mlp",
        lambda d: d["data"].update(images={"image_size": [8, 8]}, text={}),
        ("data",),
        "not",
    ),
    "unknown color mode": (
        "mlp",
        _set(("data", "images"), {"image_size": [8, 8], "color_mode": "rbg"}),
        ("data", "images", "color_mode"),
        "enum",
    ),
    "image size of one number": (
        "mlp",
        _set(("data", "images"), {"image_size": [8]}),
        ("data", "images", "image_size"),
        "minItems",
    ),
    "unknown TFRecord dtype": (
        "mlp",
        _set(("data", "tfrecord"), {"features": {"x": {"dtype": "float64"}}}),
        ("data", "tfrecord", "features", "x", "dtype"),
        "enum",
    ),
    "unknown column type": (
        "mlp",
        _set(("data", "columns"), {"species": "text"}),
        ("data", "columns", "species"),
        "enum",
    ),
    "split by key and by file": (
        "mlp",
        lambda d: d["data"]["split"].update(key="species", by_file=True),
        ("data", "split"),
        "not",
    ),
    "unknown cache": ("mlp", _set(("data", "cache"), "ssd"), ("data", "cache"), "enum"),
}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _flatten(errors: list[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        yield error
        yield from _flatten(error.context or [])


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_spec_is_rejected(validator: Draft202012Validator, case: str) -> None:
    template, change, where, keyword = BROKEN[case]
    doc = _load(TEMPLATES_DIR / f"{template}.yaml")
    assert list(validator.iter_errors(doc)) == []
    load_spec_dict(copy.deepcopy(doc), TEMPLATES_DIR)  # the unchanged spec is valid
    change(doc)
    found = {
        (tuple(e.absolute_path), e.validator) for e in _flatten(list(validator.iter_errors(doc)))
    }
    assert (where, keyword) in found, sorted(found, key=str)
    with pytest.raises(SpecError):  # `kerascli validate` rejects it too
        load_spec_dict(doc, TEMPLATES_DIR)


ACCEPTED: dict[str, tuple[str, Change]] = {
    "plugin layer name with plugins": (
        "mlp",
        lambda d: (
            d.update(plugins=["plugins/blocks.py"]),
            d["model"]["sequential"]["layers"].append({"ResBlock": {"units": 8}}),
        ),
    ),
    "partial child spec with extends": (
        "mlp",
        lambda d: d.clear() or d.update(extends="base.yaml", fit={"epochs": 3}),
    ),
    "identifier and null arguments": (
        "mlp",
        lambda d: (
            d["compile"].update(optimizer="adam"),
            _set((*SEQ, 0), {"Normalization": None})(d),
        ),
    ),
    "nested initializer, regularizer, constraint": (
        "mlp",
        _set(
            (*SEQ, 1, "Dense"),
            {
                "units": 8,
                "kernel_initializer": "he_normal",
                "bias_initializer": {"Constant": {"value": 0.1}},
                "kernel_regularizer": {"L2": {"l2": 0.01}},
                "kernel_constraint": {"MaxNorm": {"max_value": 2}},
            },
        ),
    ),
    "learning-rate schedule": (
        "mlp",
        _set(
            ("compile", "optimizer"),
            {
                "Adam": {
                    "learning_rate": {
                        "ExponentialDecay": {
                            "initial_learning_rate": 0.01,
                            "decay_steps": 100,
                            "decay_rate": 0.9,
                        }
                    }
                }
            },
        ),
    ),
    "wrapped layer": (
        "lstm",
        _set((*SEQ, 0), {"Bidirectional": {"layer": {"LSTM": {"units": 8}}}}),
    ),
    "class weights by index": ("mlp", _set(("fit", "class_weight"), {0: 1.0, 1: 2.0, 2: 1.0})),
    "shared layer node": (
        "functional",
        _set((*FUN, "petal_norm"), {"reuse": "sepal_norm", "from": "petal"}),
    ),
    "augment layers": (
        "mlp",
        _set(("data", "augment"), [{"RandomFlip": {"mode": "horizontal"}}, "RandomContrast"]),
    ),
    "augment layers by input name": (
        "functional",
        _set(("data", "augment"), {"sepal": [{"GaussianNoise": {"stddev": 0.1}}]}),
    ),
    "one augment call without a list": (
        "mlp",
        _set(("data", "augment"), {"GaussianNoise": {"stddev": 0.1}}),
    ),
    "a streamed table's keys": (
        "mlp",
        lambda d: d["data"].update(
            stream=True,
            columns={"species": "string"},
            missing={"sepal_length": 0},
            sample_weight="sepal_width",
            shuffle=1000,
            cache="disk",
            parallel=4,
            prefetch=False,
            adapt_rows=None,
            split={"validation": 0.2, "key": "species", "by_file": False},
        ),
    ),
    "an image folder": (
        "mlp",
        _set(
            ("data",),
            {
                "path": "images",
                "images": {"image_size": [28, 28], "color_mode": "grayscale"},
                "split": {"validation": 0.2, "stratify": True},
            },
        ),
    ),
    "TFRecord shards": (
        "mlp",
        _set(
            ("data",),
            {
                "path": "gs://bucket/shards/*.tfrecord",
                "features": "pixels",
                "target": "label",
                "tfrecord": {
                    "features": {
                        "pixels": {"dtype": "float32", "shape": [4]},
                        "label": {"dtype": "int64", "default": 0},
                    },
                    "compression": "GZIP",
                },
            },
        ),
    ),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_valid_variants_are_accepted(validator: Draft202012Validator, case: str) -> None:
    template, change = ACCEPTED[case]
    doc = _load(TEMPLATES_DIR / f"{template}.yaml")
    change(doc)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []


# --- `${VAR}` interpolation and base files: what the loader accepts, the schema accepts ------

INTERPOLATED: dict[tuple[Any, ...], str] = {
    ("seed",): "${SEED:-7}",
    ("fit", "epochs"): "${EPOCHS}",
    ("fit", "batch_size"): "${BATCH_SIZE:-16}",
    ("model", "sequential", "input", "shape", 0): "${FEATURES:-4}",
    (*SEQ, 1, "Dense", "units"): "${UNITS:-16}",
    ("compile", "optimizer"): "${OPTIMIZER:-adam}",
    ("compile", "jit_compile"): "${JIT:-false}",
    ("data", "split", "validation"): "${VALIDATION:-0.2}",
    ("data", "split", "stratify"): "${STRATIFY:-true}",
    ("name",): "iris-${RUN:-1}",
}


def test_interpolation_is_accepted_where_the_loader_types_it(
    validator: Draft202012Validator,
) -> None:
    doc = _load(TEMPLATES_DIR / "mlp.yaml")
    for path, value in INTERPOLATED.items():
        _set(path, value)(doc)
    text = yaml.safe_dump(doc, sort_keys=False)
    # The editor sees the strings as written...
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    assert yaml.safe_load(text) == doc
    # ...and the loader substitutes and types them.
    parsed = parse_yaml(text, str(TEMPLATES_DIR / "<spec>"), env={"EPOCHS": "5"})
    spec = spec_from_document(parsed)
    assert (spec.seed, spec.fit.epochs, spec.fit.batch_size, spec.name) == (7, 5, 16, "iris-1")
    assert spec.data is not None and spec.data.split is not None
    assert (spec.data.split.validation, spec.data.split.stratify) == (0.2, True)


def test_interpolation_in_a_child_spec(validator: Draft202012Validator) -> None:
    child = {"name": "iris-env", "extends": "base.yaml", "fit": {"epochs": "${EPOCHS:-5}"}}
    assert list(validator.iter_errors(child)) == []
    child["fit"]["epochs"] = "five"
    assert not validator.is_valid(child)


BASE = """\
seed: 7
model:
  sequential:
    input: {shape: [4]}
    layers:
      - Normalization
      - Dense: {units: 16, activation: relu}
      - Dense: {units: 3, activation: softmax}
compile:
  optimizer: {Adam: {learning_rate: 0.01}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 40, batch_size: 16}
data:
  path: data/iris.csv
  target: species
  split: {validation: 0.2, test: 0.2, stratify: true}
"""


def test_base_file_without_name_is_accepted(
    validator: Draft202012Validator, schema: dict[str, Any]
) -> None:
    """docs/spec.md's `base.yaml`: no `name`, left to the specs that extend it."""
    base = yaml.safe_load(BASE)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(base)]
    assert errors == []
    assert "kerascli validate" in schema["properties"]["name"]["description"]
    # Its other required keys still apply, and a misspelt key is still an error.
    assert not validator.is_valid({k: v for k, v in base.items() if k != "model"})
    assert not validator.is_valid({**base, "nmae": "iris"})
    # The loader still requires `name` on the spec it runs.
    with pytest.raises(SpecError, match="name"):
        load_spec_dict(base, TEMPLATES_DIR)
