"""The batches `predict` gives the model: their size when none is given (`predict_batch_size`),
and a stream's chunks regrouped into whole batches (`aligned`), so that a streamed input is
predicted as it would be whole in memory."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from kerascli.data.model_arrays import Arrays, Split
from kerascli.data.stream import Chunk
from kerascli.spec.models import Spec

PREDICT_BATCH_BYTES = 4 << 20
"""The input bytes of a predict batch when no batch size is given (`predict_batch_size`)."""
MAX_PREDICT_BATCH = 8192


def predict_batch_size(fit_batch: int, x: Arrays) -> int:
    """Rows per `predict` batch when none is given: as many rows as hold 4 MiB of inputs,
    between `fit.batch_size` and 8192. Per-batch overhead dominates small rows (a 16-row batch
    of 4 numbers predicts ~50x slower than a 4096-row one); on CPU the predictions are the same
    for any batch size (pinned by a test)."""
    arrays = list(x.values()) if isinstance(x, dict) else [x]
    per_row = sum(a.nbytes // max(len(a), 1) for a in arrays) or 1
    return max(fit_batch, min(MAX_PREDICT_BATCH, PREDICT_BATCH_BYTES // per_row))


def sized(
    chunks: Iterator[Chunk], batch_size: int | None, spec: Spec
) -> tuple[int, Iterator[Chunk]]:
    """The batch size of a prediction (given, or `predict_batch_size` of the first chunk) and
    the chunks, the first one peeked at put back."""
    first = next(chunks, None)
    if first is None:
        return batch_size or spec.fit.batch_size, iter(())
    size = batch_size or predict_batch_size(spec.fit.batch_size, first.split.x)
    return size, itertools.chain([first], chunks)


def aligned(chunks: Iterator[Chunk], batch_size: int) -> Iterator[Chunk]:
    """`chunks` regrouped so that each but the last holds a whole number of batches: the model
    is given the batches it is given on the whole input, and predicts the same."""
    held: Chunk | None = None
    for chunk in chunks:
        if held is not None:
            chunk = _joined(held, chunk)
        rows = chunk.split.rows
        cut = rows - rows % batch_size
        held = _rows(chunk, slice(cut, rows)) if cut < rows else None
        if cut:
            yield chunk if held is None else _rows(chunk, slice(0, cut))
    if held is not None:
        yield held


def _rows(chunk: Chunk, rows: slice) -> Chunk:
    x = chunk.split.x
    x = {k: v[rows] for k, v in x.items()} if isinstance(x, dict) else x[rows]
    count = len(range(*rows.indices(chunk.split.rows)))
    return Chunk(Split(x, None, count), {k: v[rows] for k, v in chunk.kept.items()})


def _joined(first: Chunk, then: Chunk) -> Chunk:
    a, b = first.split.x, then.split.x
    if isinstance(a, dict) and isinstance(b, dict):
        x: Arrays = {k: np.concatenate([v, b[k]]) for k, v in a.items()}
    else:
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        x = np.concatenate([a, b])
    kept = {k: np.concatenate([v, then.kept[k]]) for k, v in first.kept.items()}
    return Chunk(Split(x, None, first.split.rows + then.split.rows), kept)
