"""`kerascli import`: what it writes, its exit codes, `--json`, and the layers a spec cannot
build reported by node and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import invoke

keras = pytest.importorskip("keras")


@keras.saving.register_keras_serializable(package="tests")
class Doubling(keras.layers.Layer):
    """A custom layer: loads (registered here), but no spec can name it without a plugin."""

    def call(self, inputs):  # type: ignore[no-untyped-def]
        return inputs * 2.0


def test_application_by_name(tmp_path: Path) -> None:
    keras.layers.Add()  # Keras's name counters move on: `import` clears them itself
    spec = tmp_path / "net.yaml"
    result = invoke(
        "import", "MobileNetV3Small", "--input-shape", "32,32,3", "--no-include-top",
        "-o", spec, "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["ok"] is True
    assert document["spec"] == str(spec)
    assert document["kind"] == "functional"
    assert document["params"] == 939120
    assert document["unexpressible"] == []
    text = spec.read_text()
    assert text.startswith("name: net\nmodel:\n  functional:\n")
    assert "      add: {ops.add: {x2: 3.0}, from: expanded_conv_squeeze_excite_conv_1}\n" in text
    assert "name:" not in text.split("layers:")[1].split("outputs:")[0]  # node names only
    assert invoke("validate", spec).code == 0


def test_existing_spec_needs_force(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text("keep me")
    refused = invoke("import", "VGG16", "--no-include-top", "--input-shape", "32,32,3", "-o", spec)
    assert refused.code == 2
    assert f"{spec} exists: give --force to overwrite" in refused.err
    assert spec.read_text() == "keep me"
    forced = invoke(
        "import", "VGG16", "--no-include-top", "--input-shape", "32,32,3", "-o", spec, "--force"
    )
    assert forced.code == 0, forced.err
    assert "VGG16" in spec.read_text() or "vgg16" in spec.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ResNet5OV2"], "neither a model file (.keras, .h5, .hdf5) nor a keras.applications"),
        (["missing.keras"], "no model file missing.keras"),
        (["VGG16", "--input-shape", "32,x,3"], "expected positive integers such as 32,32,3"),
        (["VGG16", "--name", "bad name"], "'bad name' is not a spec name"),
        (["VGG16", "--pooling", "bogus"], "'bogus' is not one of 'avg', 'max'"),
        (["x.keras", "--input-shape", "8,8,3"], "input_shape applies to a keras.applications name"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke("import", *args, "-o", tmp_path / "out.yaml")
    assert result.code == 2
    assert message in " ".join(result.err.split()).replace("│ ", "")
    assert not (tmp_path / "out.yaml").exists()


def test_unknown_application_json(tmp_path: Path) -> None:
    result = invoke("import", "ResNet5OV2", "-o", tmp_path / "out.yaml", "--json")
    assert result.code == 2
    document = json.loads(result.out)
    assert document["ok"] is False
    assert "did you mean 'ResNet50V2'" in document["errors"][0]["message"]


def custom_model_file(tmp_path: Path) -> Path:
    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    doubled = Doubling(name="doubled")(hidden)
    path = tmp_path / "custom.keras"
    keras.Model(inputs, keras.layers.Dense(2, name="out")(doubled)).save(path)
    return path


def test_custom_layer_is_written_and_reported(tmp_path: Path) -> None:
    spec = tmp_path / "custom.yaml"
    result = invoke("import", custom_model_file(tmp_path), "-o", spec)
    assert result.code == 1
    lines = spec.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith("doubled:"))
    assert "Doubling" in lines[line - 1]
    err = " ".join(result.err.split())
    assert f"{spec}:{line}: doubled: the spec cannot build Doubling" in err
    assert "plugins: [file.py]" in err


def test_custom_layer_json(tmp_path: Path) -> None:
    spec = tmp_path / "custom.yaml"
    result = invoke("import", custom_model_file(tmp_path), "-o", spec, "--json", "--weights")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["ok"] is False
    assert document["weights"] == str(tmp_path / "custom.weights.h5")
    assert (tmp_path / "custom.weights.h5").is_file()  # the original's weights, for a plugin
    ((report,),) = [document["unexpressible"]]
    assert report["node"] == "doubled"
    assert report["class"] == "Doubling"
    assert spec.read_text().splitlines()[report["line"] - 1].strip().startswith("doubled:")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_file_is_refused_by_name_with_advice(tmp_path: Path, suffix: str) -> None:
    """Read from the file's config without loading it (a Lambda saves; loading refuses)."""
    inputs = keras.Input((4,))
    shifted = keras.layers.Lambda(lambda x: x + 1.0, name="shift")(inputs)
    scaled = keras.layers.Lambda(lambda x: x * 2.0, name="scale")(shifted)
    path = tmp_path / f"lambda{suffix}"
    keras.Model(inputs, scaled).save(path)
    with pytest.raises(ValueError, match="safe_mode"):  # what kerascli is not to pass on
        keras.saving.load_model(path, safe_mode=True)
    result = invoke("import", path, "-o", tmp_path / "lambda.yaml")
    assert result.code == 1
    (line, *_) = result.err.splitlines()
    assert line == (
        f"error: cannot load {path}: it holds the Lambda layers 'shift', 'scale' (a Lambda layer "
        "holds Python code, which kerascli never loads): rewrite it as `ops.*` nodes or a "
        "plugin layer, then save and import again"
    )
    assert "safe_mode" not in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "lambda.yaml").exists()


class Unregistered(keras.layers.Layer):
    """A class of the test's own, not registered: Keras cannot find it when loading."""

    def call(self, inputs):  # type: ignore[no-untyped-def]
        return inputs * 3.0


def test_class_keras_cannot_find_is_named(tmp_path: Path) -> None:
    inputs = keras.Input((4,))
    path = tmp_path / "own.keras"
    keras.Model(inputs, Unregistered(name="tripled")(inputs)).save(path)
    result = invoke("import", path, "-o", tmp_path / "own.yaml")
    assert result.code == 1
    err = " ".join(result.err.split())
    assert "it holds 'tripled' (Unregistered), of a class Keras cannot find here" in err
    assert "rewrite it as `ops.*` nodes or a plugin layer, then save and import again" in err
    assert not (tmp_path / "own.yaml").exists()


def small_model_file(path: Path) -> Path:
    inputs = keras.Input((4,), name="features")
    keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs)).save(path)
    return path


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("model.keras", "'{dir}/model.keras' is the source model: writing the spec there would"),
        ("model.txt", "'{dir}/model.txt' is not a spec file: its name must end .yaml or .yml"),
        ("new/model.yaml", "'{dir}/new/model.yaml': {dir}/new does not exist: create it first"),
        ("model.keras/x.yaml", "{dir}/model.keras is a file, not a directory"),
    ],
)
def test_output_is_refused(tmp_path: Path, output: str, message: str) -> None:
    source = small_model_file(tmp_path / "model.keras")
    before = source.read_bytes()
    result = invoke("import", source, "-o", tmp_path / output, "--force")
    assert result.code == 2
    err = " ".join(result.err.split()).replace("│ ", "")
    assert "Invalid value for '--output'" in err
    assert message.format(dir=tmp_path) in err
    assert source.read_bytes() == before
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_weights_file_over_the_source_is_refused(tmp_path: Path) -> None:
    source = small_model_file(tmp_path / "net.weights.h5")  # a model file, .h5
    before = source.read_bytes()
    result = invoke("import", source, "-o", tmp_path / "net.yaml", "--weights", "--force")
    assert result.code == 2
    assert "is the source model: writing the weights there would overwrite it" in " ".join(
        result.err.split()
    )
    assert source.read_bytes() == before
    assert not (tmp_path / "net.yaml").exists()


def test_import_spec_is_the_command_as_a_function(tmp_path: Path) -> None:
    from kerascli.cli.commands_import import WEIGHTS_SUFFIX
    from kerascli.model import import_write
    from kerascli.model.import_types import ImportRefused
    from kerascli.model.importer import import_spec

    assert WEIGHTS_SUFFIX == import_write.WEIGHTS_SUFFIX
    source = small_model_file(tmp_path / "small.keras")
    result = import_spec(source, tmp_path / "small.yaml", weights=True)
    assert result.ok
    assert result.spec == tmp_path / "small.yaml"
    assert result.weights == tmp_path / "small.weights.h5"
    assert result.to_dict() == {
        "ok": True,
        "spec": str(tmp_path / "small.yaml"),
        "weights": str(tmp_path / "small.weights.h5"),
        "kind": "functional",
        "layers": 1,
        "params": 10,
        "unexpressible": [],
    }
    assert "out: {Dense: {units: 2}, from: features}" in result.spec.read_text()
    with pytest.raises(ImportRefused, match="exists: give --force") as refused:
        import_spec(source, tmp_path / "small.yaml")
    assert refused.value.option is None
    with pytest.raises(ImportRefused, match="expected one of avg, max") as refused:
        import_spec("VGG16", tmp_path / "vgg.yaml", pooling="sum")
    assert refused.value.option == "'--pooling'"


def test_lambda_in_a_model_is_reported() -> None:
    from kerascli.model.import_write import reports, spec_text
    from kerascli.model.importer import import_model

    inputs = keras.Input((4,), name="x")
    shifted = keras.layers.Lambda(lambda x: x + 1.0, name="shift")(inputs)
    imported = import_model(keras.Model(inputs, shifted), "shifted")
    text = spec_text(imported.spec)
    assert "shift: {Lambda: {}, from: x}" in text
    (report,) = reports(imported, text, "shifted.yaml")
    assert (report.node, report.class_name) == ("shift", "Lambda")
    assert text.splitlines()[report.line - 1].strip().startswith("shift:")
    assert "write it as a plugin layer" in report.advice


def test_a_name_two_layers_have_is_refused(tmp_path: Path) -> None:
    """A nested model's layer named as an outer one: refused (naming both), never overwritten."""
    inner_input = keras.Input((4,), name="inner_x")
    inner = keras.Model(
        inner_input, keras.layers.Dense(3, name="dense_a")(inner_input), name="inner"
    )
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(4, name="dense_a")(inputs)
    path = tmp_path / "clash.keras"
    keras.Model(inputs, inner(hidden), name="outer").save(path)
    result = invoke("import", path, "-o", tmp_path / "clash.yaml")
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "error: the layer 'dense_a' of 'inner' has the name of a layer of 'outer': a spec names "
        "each node by its layer, so the names must differ; rename one (its `name`), then save "
        "and import again"
    )
    assert not (tmp_path / "clash.yaml").exists()


def test_a_nested_model_called_twice_is_refused() -> None:
    from kerascli.model.import_types import ImportFailed
    from kerascli.model.importer import import_model

    inner_input = keras.Input((4,))
    inner = keras.Model(inner_input, keras.layers.Dense(4, name="twice")(inner_input), name="inner")
    inputs = keras.Input((4,), name="x")
    with pytest.raises(ImportFailed, match="the nested model 'inner' .* is called more than once"):
        import_model(keras.Model(inputs, inner(inner(inputs))), "twice")


def tampered(spec: dict, change: dict) -> dict:  # type: ignore[type-arg]
    """`spec` with its node `out` changed."""
    layers = dict(spec["model"]["functional"]["layers"])
    layers["out"] = {**change, "from": "features"}
    functional = {**spec["model"]["functional"], "layers": layers}
    return {**spec, "model": {"functional": functional}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Dense": {"units": 3}}, "{spec} builds 15 parameters, {name} has 10"),
        ({"EinsumDense": {"equation": "ab,bc->ac", "output_shape": 2, "bias_axes": "c"}},
         "{spec} builds other layers than {name}: layer 1 is EinsumDense, {name}'s is Dense"),
        ({"Dense": {"units": 0}}, "{spec} does not build {name}: {spec}:7:"),
    ],
)  # fmt: skip
def test_a_spec_that_does_not_rebuild_the_model_fails(
    tmp_path: Path,
    change: dict,
    message: str,  # type: ignore[type-arg]
) -> None:
    """The written spec is built and checked against the model: another model fails (exit 1),
    and the spec stays written for the user to fix."""
    from dataclasses import replace

    from kerascli.model.import_types import ImportFailed
    from kerascli.model.import_write import write_import
    from kerascli.model.importer import import_model

    model = keras.models.load_model(small_model_file(tmp_path / "small.keras"))
    imported = import_model(model, "small")
    imported = replace(imported, spec=tampered(imported.spec, change))
    spec = tmp_path / "small.yaml"
    with pytest.raises(ImportFailed) as failed:
        write_import(imported, spec, tmp_path / "small.weights.h5")
    assert str(failed.value).startswith(message.format(spec=spec, name=model.name))
    assert "\n" not in str(failed.value)
    assert spec.is_file()
    assert not (tmp_path / "small.weights.h5").exists()


def test_training_true_is_reported() -> None:
    """`training=True` (which a spec refuses) is reported on each node it reaches, not written."""
    from kerascli.model.import_write import spec_text
    from kerascli.model.importer import import_model

    inner_input = keras.Input((4,), name="inner_x")
    normed = keras.layers.BatchNormalization(name="bn")(inner_input)
    inner = keras.Model(inner_input, keras.layers.ReLU(name="relu")(normed), name="inner")
    inputs = keras.Input((4,), name="x")
    dropped = keras.layers.Dropout(0.5, name="drop")(inner(inputs, training=True), training=True)
    imported = import_model(keras.Model(inputs, dropped), "always")
    assert [(r.node, r.class_name) for r in imported.unexpressible] == [
        ("bn", "BatchNormalization"),
        ("drop", "Dropout"),
    ]
    assert "called with training=True, which a spec cannot hold" in imported.unexpressible[0].advice
    assert "training" not in spec_text(imported.spec)
