"""Write the NPZ data sets of the shipped examples (deterministic, byte for byte).

    python model_specs/data/make_data.py [SOURCE_DIR]

`SOURCE_DIR` holds the UCI `digits.csv` (8x8 images as `pixel_0..pixel_63`, grey levels
0-16, and `digit`). Defaults to `../shared/data` beside the checkout. The examples read the committed NPZ
files; run this only to regenerate them. It writes, beside itself:

- `digits.npz`: `images` float32 (1797, 8, 8, 1) scaled to 0..1, `digit` int64 (1797,).
- `sine.npz`: noisy sine windows, `window` float32 (800, 16, 1) and `next` float32 (800,),
  the value that follows each window.
- `tokens.npz`: token-id sequences, `tokens` int32 (1200, 20) (0 pads), `topic` int64
  (1200,) in 0..2: the topic whose keyword tokens occur in the sequence.
- `reverse.npz`: a sequence-to-sequence task, `source` int32 (3000, 6) of digit tokens 0..9,
  `target` int64 (3000, 6) the same tokens reversed, and `decoder_input` int32 (3000, 6) the
  target shifted right behind the start token 10 (teacher forcing). Written from its own
  seed, so the files before it keep their bytes.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from kerascli.templates import npz_bytes

HERE = Path(__file__).resolve().parent
SEED = 2024


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Like `np.savez_compressed`, with fixed timestamps so the bytes never change."""
    path.write_bytes(npz_bytes(arrays))


def digits(source: Path) -> dict[str, np.ndarray]:
    """The UCI digits as 8x8x1 images in 0..1 and their digit."""
    with open(source / "digits.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    pixels = np.array([[float(r[f"pixel_{i}"]) for i in range(64)] for r in rows])
    images = (pixels / 16.0).reshape(-1, 8, 8, 1).astype(np.float32)
    return {"images": images, "digit": np.array([int(r["digit"]) for r in rows], np.int64)}


def sine(rng: np.random.Generator, count: int = 800, steps: int = 16) -> dict[str, np.ndarray]:
    """Windows of noisy sines (random period, phase and amplitude) and the next value."""
    t = np.arange(steps + 1)
    period = rng.uniform(8.0, 24.0, size=(count, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(count, 1))
    amplitude = rng.uniform(0.5, 1.0, size=(count, 1))
    series = amplitude * np.sin(2 * np.pi * t / period + phase)
    series += rng.normal(0.0, 0.05, size=series.shape)
    window = series[:, :steps, None].astype(np.float32)
    return {"window": window, "next": series[:, steps].astype(np.float32)}


def tokens(
    rng: np.random.Generator, count: int = 1200, length: int = 20, vocab: int = 64
) -> dict[str, np.ndarray]:
    """Sequences of filler tokens (10..vocab-1) with 1-3 keywords (1..9) of one of 3 topics.

    Topic k's keywords are tokens 3k+1..3k+3; sequences are 8..length long, padded with 0.
    """
    out = np.zeros((count, length), np.int32)
    topic = rng.integers(0, 3, size=count)
    for i in range(count):
        size = int(rng.integers(8, length + 1))
        seq = rng.integers(10, vocab, size=size)
        keywords = int(rng.integers(1, 4))
        where = rng.choice(size, size=keywords, replace=False)
        seq[where] = 3 * topic[i] + 1 + rng.integers(0, 3, size=keywords)
        out[i, :size] = seq
    return {"tokens": out, "topic": topic.astype(np.int64)}


START_TOKEN = 10  # the decoder's first input; tokens are 0..9


def reverse(rng: np.random.Generator, count: int = 3000, length: int = 6) -> dict[str, np.ndarray]:
    """Digit sequences, the same reversed, and the decoder's input for teacher forcing."""
    source = rng.integers(0, 10, size=(count, length))
    target = source[:, ::-1]
    start = np.full((count, 1), START_TOKEN)
    decoder_input = np.concatenate([start, target[:, :-1]], axis=1)
    return {
        "source": source.astype(np.int32),
        "decoder_input": decoder_input.astype(np.int32),
        "target": target.astype(np.int64),
    }


def main(source: Path) -> None:
    rng = np.random.default_rng(SEED)
    save_npz(HERE / "digits.npz", **digits(source))
    save_npz(HERE / "sine.npz", **sine(rng))
    save_npz(HERE / "tokens.npz", **tokens(rng))
    save_npz(HERE / "reverse.npz", **reverse(np.random.default_rng(SEED + 1)))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "data")
