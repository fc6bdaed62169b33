"""Text (`dtype: string`) model inputs: CSV cells and NPZ/NPY text arrays as numpy str arrays,
tf.string batches, and end to end training of adapted TextVectorization / StringLookup layers."""

from __future__ import annotations

import csv
import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kerascli.data import load_data, read_split
from kerascli.data.pipeline import make_dataset
from kerascli.spec import SpecError, load_spec
from tests.conftest import invoke

TOPICS = {
    "sports": ["goal", "match", "team", "score", "coach", "league"],
    "cooking": ["recipe", "oven", "flavor", "bake", "spice", "dinner"],
    "space": ["orbit", "rocket", "planet", "star", "launch", "galaxy"],
}
FILLER = "the a today we saw about new very big news people said this week and with".split()
COLORS = {"red": "warm", "orange": "warm", "blue": "cool", "green": "cool"}


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _sentences(rows: int, seed: int) -> list[list[str]]:
    """`[text, topic]` rows: two topic words among four to six filler words, seeded."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    out = []
    for i in range(rows):
        topic = names[i % len(names)]
        words = list(rng.choice(TOPICS[topic], 2)) + list(rng.choice(FILLER, rng.integers(4, 7)))
        out.append([" ".join(rng.permutation(words)), topic])
    return [out[i] for i in rng.permutation(rows)]


def _write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _text_spec(folder: Path, data: dict[str, Any], shape: list[int] | None = None) -> Path:
    return _write_spec(
        folder / "text.yaml",
        {
            "name": "text-topics",
            "seed": 7,
            "model": {
                "sequential": {
                    "input": {"shape": [1] if shape is None else shape, "dtype": "string"},
                    "layers": [
                        {"TextVectorization": {"max_tokens": 100, "output_sequence_length": 12}},
                        {"Embedding": {"input_dim": 100, "output_dim": 8}},
                        "GlobalAveragePooling1D",
                        {"Dense": {"units": 3, "activation": "softmax"}},
                    ],
                }
            },
            "compile": {
                "optimizer": {"Adam": {"learning_rate": 0.01}},
                "loss": "sparse_categorical_crossentropy",
                "metrics": ["accuracy"],
            },
            "fit": {"epochs": 15, "batch_size": 32},
            "data": data,
        },
    )


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The text classifier trained once from a CSV of sentences; its run directory."""
    folder = tmp_path_factory.mktemp("text")
    _write_csv(folder / "topics.csv", ["text", "topic"], _sentences(300, seed=0))
    data = {
        "path": "topics.csv",
        "features": ["text"],
        "target": "topic",
        "split": {"test": 0.2, "stratify": True},
    }
    spec = _text_spec(folder, data)
    result = invoke("train", spec, "--runs-dir", folder / "runs", "--json", "--quiet")
    assert result.code == 0, result.err
    return Path(result.json()["run_dir"])


def test_text_classifier_trains_with_adapted_text_vectorization(text_run: Path) -> None:
    record = json.loads((text_run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["adapted"] == ["layers[0]"]
    assert record["classes"] == {"target": ["cooking", "space", "sports"]}
    metrics = json.loads((text_run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9  # chance is 1/3


def test_predict_on_text_only_csv(cli, text_run: Path, tmp_path: Path) -> None:
    rows = _sentences(30, seed=1)
    source = _write_csv(tmp_path / "texts.csv", ["text"], [[text] for text, _ in rows])
    output = tmp_path / "predictions.csv"
    result = cli("predict", text_run, source, "--output", output)
    assert result.code == 0, result.err
    with open(output) as handle:
        predicted = list(csv.DictReader(handle))
    assert len(predicted) == 30
    assert list(predicted[0]) == ["topic", "p_cooking", "p_space", "p_sports"]
    correct = sum(p["topic"] == topic for p, (_, topic) in zip(predicted, rows, strict=True))
    assert correct >= 27


def test_evaluate_reloads_the_saved_text_model(cli, text_run: Path) -> None:
    result = cli("evaluate", text_run, "--json")
    assert result.code == 0, result.err
    stored = json.loads((text_run / "metrics.json").read_text())["test"]
    assert result.json()["metrics"]["accuracy"] == pytest.approx(stored["accuracy"])


def test_string_lookup_beside_a_numeric_input(cli, tmp_path: Path) -> None:
    """A Functional model: a categorical text column one-hot by an adapted StringLookup,
    concatenated with a float input; the batches mix tf.string and float32."""
    rng = np.random.default_rng(3)
    colors = rng.choice(list(COLORS), 200)
    rows = [[c, f"{rng.normal():.3f}", COLORS[c]] for c in colors]
    _write_csv(tmp_path / "colors.csv", ["color", "size", "tone"], rows)
    spec = _write_spec(
        tmp_path / "lookup.yaml",
        {
            "name": "color-lookup",
            "seed": 7,
            "model": {
                "functional": {
                    "inputs": {"color": {"shape": [1], "dtype": "string"}, "size": {"shape": [1]}},
                    "layers": {
                        "onehot": {
                            # max_tokens + pad_to_max_tokens: a known width before adapt
                            "StringLookup": {
                                "output_mode": "one_hot",
                                "max_tokens": 8,
                                "pad_to_max_tokens": True,
                            },
                            "from": "color",
                        },
                        "merged": {"Concatenate": {}, "from": ["onehot", "size"]},
                        "tone": {"Dense": {"units": 2, "activation": "softmax"}, "from": "merged"},
                    },
                    "outputs": ["tone"],
                }
            },
            "compile": {
                "optimizer": {"Adam": {"learning_rate": 0.05}},
                "loss": "sparse_categorical_crossentropy",
                "metrics": ["accuracy"],
            },
            "fit": {"epochs": 10, "batch_size": 32},
            "data": {
                "path": "colors.csv",
                "inputs": {"color": ["color"], "size": ["size"]},
                "target": "tone",
                "split": {"test": 0.2},
            },
        },
    )
    data = load_data(load_spec(spec))
    train = data.splits["train"]
    assert isinstance(train.x, dict)
    assert train.x["color"].dtype.kind == "U" and train.x["color"].shape == (160, 1)
    assert train.x["size"].dtype == np.float32
    x_spec = make_dataset(train, None, 32, 0, training=True).element_spec[0]
    assert x_spec["color"].dtype.name == "string" and x_spec["size"].dtype.name == "float32"
    assert tuple(x_spec["color"].shape) == (None, 1)

    result = cli("train", spec, "--runs-dir", tmp_path / "runs", "--json", "--quiet")
    assert result.code == 0, result.err
    run = Path(result.json()["run_dir"])
    assert json.loads((run / "run.json").read_text())["adapted"] == ["onehot"]
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] >= 0.95


# Loading only (no training) ------------------------------------------------------------------


def _load(spec: Path, file: Path) -> Any:
    return read_split(load_spec(spec), str(file), {}, require_target=False).x


def test_csv_text_column_keeps_cells_as_written(tmp_path: Path) -> None:
    _write_csv(tmp_path / "t.csv", ["text", "topic"], [["007 ok", "a"], ["", "b"], [" x ", "a"]])
    spec = _text_spec(tmp_path, {"path": "t.csv", "features": ["text"], "target": "topic"})
    x = _load(spec, tmp_path / "t.csv")
    assert x.dtype.kind == "U" and x.shape == (3, 1)
    assert x[:, 0].tolist() == ["007 ok", "", "x"]  # cells are stripped, as for every column
    flat = _text_spec(tmp_path, {"path": "t.csv", "features": ["text"], "target": "topic"}, [])
    assert _load(flat, tmp_path / "t.csv").shape == (3,)  # shape [] takes one string per row


@pytest.mark.parametrize("kind", ["str", "bytes", "object"])
def test_npz_text_arrays(tmp_path: Path, kind: str) -> None:
    texts = ["ünïcode words", "two", "three four"]
    array = {
        "str": np.array(texts),
        "bytes": np.array([t.encode() for t in texts]),
        "object": np.array(texts, dtype=object),
    }[kind]
    np.savez(tmp_path / "t.npz", text=array, topic=np.array([0, 1, 2]))
    spec = _text_spec(tmp_path, {"path": "t.npz", "features": "text", "target": "topic"})
    x = _load(spec, tmp_path / "t.npz")
    assert x.dtype.kind == "U" and x.shape == (3, 1)  # a 1-D array fills shape [1]
    assert x[:, 0].tolist() == texts
    flat = _text_spec(tmp_path, {"path": "t.npz", "features": "text", "target": "topic"}, [])
    assert _load(flat, tmp_path / "t.npz").tolist() == texts
    np.save(tmp_path / "t.npy", array.reshape(3, 1))  # an NPY file of the one text column
    npy = _text_spec(tmp_path, {"path": "t.npy", "features": "text"}, [1])
    assert _load(npy, tmp_path / "t.npy")[:, 0].tolist() == texts


def test_text_input_errors(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "t.npz",
        numbers=np.arange(3.0),
        mixed=np.array(["a", None, "c"], dtype=object),
        text=np.array(["a", "b", "c"]),
    )
    for features, message in (
        ("numbers", "array 'numbers' holds float64 values; a `string` input needs text"),
        ("mixed", "array 'mixed': item 1 is NoneType None, not text"),
    ):
        spec = _text_spec(tmp_path, {"path": "t.npz", "features": features})
        with pytest.raises(SpecError) as error:
            _load(spec, tmp_path / "t.npz")
        (problem,) = error.value.problems
        assert message in problem.message and problem.file == str(tmp_path / "t.npz")
    # Text given to a numeric input stays a located error, with a hint for text inputs.
    spec = _text_spec(tmp_path, {"path": "t.npz", "features": "text"})
    numeric = yaml.safe_load(spec.read_text())
    numeric["model"]["sequential"]["input"] = {"shape": [1]}
    with pytest.raises(SpecError) as error:
        _load(_write_spec(tmp_path / "numeric.yaml", numeric), tmp_path / "t.npz")
    assert "set the input's dtype: string" in error.value.problems[0].message
    _write_csv(tmp_path / "t.csv", ["text", "topic"], [["fine", "a"], ["words", "b"]])
    numeric["data"] = {"path": "t.csv", "features": ["text"], "target": "topic"}
    with pytest.raises(SpecError) as error:
        _load(_write_spec(tmp_path / "numeric.yaml", numeric), tmp_path / "t.csv")
    (problem,) = error.value.problems
    assert problem.message == "non-numeric value 'fine' in column 'text'" and problem.line == 2


class _Exploit:
    def __reduce__(self) -> Any:
        return (Path.touch, (Path("pwned"),))


def test_object_arrays_load_without_running_pickled_code(tmp_path: Path, monkeypatch) -> None:
    """An object array is read with an unpickler that allows only numpy's array classes."""
    monkeypatch.chdir(tmp_path)
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        npy, {"descr": "|O", "fortran_order": False, "shape": (1,)}
    )
    npy.write(pickle.dumps(np.array([_Exploit()], dtype=object), protocol=4))
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as archive:
        archive.writestr("text.npy", npy.getvalue())
    spec = _text_spec(tmp_path, {"path": "evil.npz", "features": "text"})
    with pytest.raises(SpecError) as error:
        _load(spec, tmp_path / "evil.npz")
    message = error.value.problems[0].message
    assert message.startswith("cannot read NPZ: object array: pathlib")
    assert message.endswith("Path.touch is not allowed in a data file")
    assert not (tmp_path / "pwned").exists()
    np.load(tmp_path / "evil.npz", allow_pickle=True)["text"]  # the payload is real:
    assert (tmp_path / "pwned").exists()  # a plain pickle load runs it
