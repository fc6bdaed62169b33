"""`kerascli validate` on the `distribute:` section, without TensorFlow: a setting that goes
with another strategy, a cluster that does not hold its task, a device or address that is no
name, and ParameterServerStrategy (which Keras 3's fit cannot train with), each located at
`line:column` with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerascli.spec import SpecError, load_spec

# A one-input Sequential model; `distribute:` starts on line 7.
MLP = """\
name: t
model:
  sequential:
    input: {shape: [4]}
    layers: [{Dense: {units: 3, activation: softmax}}]
compile: {loss: sparse_categorical_crossentropy}
distribute:
"""


def _problems(tmp_path: Path, section: str, *overrides: str) -> list[str]:
    """The problems `load_spec` finds, as `line:column: path: message` without the file."""
    path = tmp_path / "spec.yaml"
    path.write_text(MLP + section)
    try:
        load_spec(path, list(overrides))
    except SpecError as exc:
        return [str(p).split(":", 1)[1] for p in exc.problems]
    return []


def test_a_whole_section_is_valid(tmp_path: Path) -> None:
    section = """\
  strategy: multi_worker
  cluster: {worker: ["localhost:12345", "host-b:12345"]}
  task: {type: worker, index: 1}
  communication: ring
  mixed_precision: mixed_bfloat16
"""
    assert _problems(tmp_path, section) == []
    spec = load_spec(tmp_path / "spec.yaml")
    assert spec.distribute is not None and spec.distribute.task is not None
    assert spec.distribute.task.index == 1


def test_mirrored_from_set_on_a_spec_without_the_section(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(MLP.replace("distribute:\n", ""))
    spec = load_spec(path, ["distribute.strategy=mirrored", "distribute.devices=2"])
    assert spec.distribute is not None
    assert (spec.distribute.strategy, spec.distribute.devices) == ("mirrored", 2)


def test_parameter_server_is_refused_with_the_reason(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "  strategy: parameter_server\n")
    assert problem.startswith("8:13: distribute.strategy:")
    assert "ClusterCoordinator" in problem and "multi_worker" in problem


def test_unknown_strategy_is_located(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "  strategy: mirored\n")
    assert problem.startswith("8:13: distribute.strategy:")
    assert "mirrored" in problem


@pytest.mark.parametrize(
    ("section", "where", "words"),
    [
        ("  strategy: mirrored\n  devices: [/cpu:0, gpu1]\n", "9:21: distribute.devices[1]", "not a device name"),
        ("  strategy: mirrored\n  devices: [/gpu:0, /GPU:0]\n", "9:21: distribute.devices[1]", "named twice"),
        ("  strategy: one_device\n  devices: 2\n", "9:12: distribute.devices", "one device"),
        ("  devices: 2\n", "8:3: distribute.devices", "one_device, mirrored or multi_worker"),
        ("  strategy: mirrored\n  cluster: {worker: ['a:1']}\n", "9:3: distribute.cluster", "strategy multi_worker"),
        ("  strategy: mirrored\n  communication: nccl\n", "9:3: distribute.communication", "MultiWorkerMirroredStrategy"),
        ("  strategy: multi_worker\n  task: {index: 1}\n", "9:3: distribute.task", "not given"),
        ("  strategy: multi_worker\n  cluster: {worker: [localhost]}\n", "9:22: distribute.cluster.worker[0]", "host:port"),
        ("  strategy: multi_worker\n  cluster: {worker: ['a:99999']}\n", "9:22: distribute.cluster.worker[0]", "host:port"),
        ("  strategy: multi_worker\n  cluster: {worker: ['a:1', 'a:1']}\n", "9:29: distribute.cluster.worker[1]", "twice"),
        ("  strategy: multi_worker\n  cluster: {worker: ['a:1']}\n  task: {index: 1}\n", "10:17: distribute.task.index", "index 0 to 0"),
        ("  strategy: multi_worker\n  cluster: {worker: ['a:1']}\n  task: {type: chief}\n", "10:16: distribute.task.type", "no job 'chief'"),
        ("  strategy: multi_worker\n  cluster_resolver: SlurmResolver\n", "9:21: distribute.cluster_resolver", "SlurmClusterResolver"),
        ("  strategy: multi_worker\n  cluster_resolver: TPUClusterResolver\n", "9:21: distribute.cluster_resolver", "strategy tpu"),
        ("  mixed_precision: float16\n", "8:20: distribute.mixed_precision", "mixed_float16"),
        ("  strategy: multi_worker\n  devices: [/cpu:0]\n", "9:13: distribute.devices[0]", "name GPUs"),
        ("  strategy: tpu\n  cluster: {worker: ['a:1']}\n", "9:3: distribute.cluster", "strategy multi_worker"),
        ("  strategy: tpu\n  task: {index: 0}\n", "9:3: distribute.task", "strategy multi_worker"),
        ("  strategy: mirrored\n  devices: 10000\n", "9:12: distribute.devices", "at most 64 devices"),
    ],
)  # fmt: skip
def test_mistakes_are_located(tmp_path: Path, section: str, where: str, words: str) -> None:
    problems = _problems(tmp_path, section)
    assert any(p.startswith(where) and words in p for p in problems), problems


def test_set_task_index_is_checked_against_the_cluster(tmp_path: Path) -> None:
    section = "  strategy: multi_worker\n  cluster: {worker: ['a:1', 'b:1']}\n"
    assert _problems(tmp_path, section, "distribute.task.index=1") == []
    with pytest.raises(SpecError, match="index 0 to 1, got 2"):
        load_spec(tmp_path / "spec.yaml", ["distribute.task.index=2"])


@pytest.mark.parametrize(
    ("overrides", "where", "words"),
    [
        (
            ["compile.steps_per_execution=4"],
            "compile.steps_per_execution",
            "keras-team/keras#19246",
        ),
        (["fit.batch_size=1"], "fit.batch_size", "split over 2 replicas"),
    ],
)
def test_what_two_replicas_refuse_is_told_by_validate(
    tmp_path: Path, overrides: list[str], where: str, words: str
) -> None:
    """`devices: 2` tells the replicas before any machine is asked: what fails with several
    (keras-team/keras#19246) or cannot be split is refused by `validate`."""
    problems = _problems(tmp_path, "  strategy: mirrored\n  devices: 2\n", *overrides)
    assert any(where in p and words in p for p in problems), problems
