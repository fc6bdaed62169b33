"""Data loading: files -> named arrays -> train/validation/test splits -> tf.data pipelines."""

from kerascli.data.model_arrays import Split, read_split
from kerascli.data.splits import Data, load_data
from kerascli.spec.problems import DataError

__all__ = ["Data", "DataError", "Split", "load_data", "read_split"]
