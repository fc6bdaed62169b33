"""Data loading: files -> named arrays -> train/validation/test splits -> tf.data pipelines."""

from kerascli.data.splits import Data, Split, load_data, model_inputs, model_outputs, read_split
from kerascli.data.tables import DataError

__all__ = ["Data", "DataError", "Split", "load_data", "model_inputs", "model_outputs", "read_split"]
