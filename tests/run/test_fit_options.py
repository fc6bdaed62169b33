"""fit options that change how an epoch runs: steps_per_epoch and validation_steps."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import SPECS

COUNTER = '''
import json
import keras


class CountBatches(keras.callbacks.Callback):
    """Writes the train and validation batches of each epoch to batches.json."""

    def __init__(self, path):
        super().__init__()
        self.path, self.epochs, self.train, self.test = path, [], 0, 0

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append([self.train, self.test])
        self.train = self.test = 0
        with open(self.path, "w") as handle:
            json.dump(self.epochs, handle)
'''


def _batches(cli, tmp_path: Path, *sets: str) -> list[list[int]]:
    (tmp_path / "count.py").write_text(COUNTER)
    out = tmp_path / "batches.json"
    args = ["--set", f"plugins=[{tmp_path / 'count.py'}]"]
    args += ["--set", f"callbacks=[{{CountBatches: {{path: '{out}'}}}}]"]
    for value in sets:
        args += ["--set", value]
    iris = SPECS / "iris_mlp.yaml"
    result = cli("train", iris, "--epochs", "2", "--runs-dir", tmp_path / "runs", "--quiet", *args)
    assert result.code == 0, result.err
    return json.loads(out.read_text())


def test_steps_per_epoch_cycles_the_training_data(cli, tmp_path: Path) -> None:
    # iris: 90 training rows and 30 validation rows in batches of 16 -> 6 and 2 batches a pass
    assert _batches(cli, tmp_path) == [[6, 2], [6, 2]]
    longer = _batches(
        cli, tmp_path, "fit.steps_per_epoch=20", "fit.validation_steps=5", "fit.batch_size=16"
    )
    assert longer == [[20, 5], [20, 5]]  # more than one pass: the data repeats
    assert _batches(cli, tmp_path, "fit.steps_per_epoch=2") == [[2, 2], [2, 2]]
