"""Data loading: files -> named arrays -> train/validation/test splits -> tf.data pipelines."""

from kerascli.data.splits import Data, Split, load_data, read_split
from kerascli.spec.problems import DataError

__all__ = ["Data", "DataError", "Split", "load_data", "read_split"]
