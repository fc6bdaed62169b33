"""Write the image and text folders of the folder examples (deterministic, byte for byte).

    python model_specs/data/make_folders.py

The examples read the committed folders; run this only to regenerate them. It writes, beside
itself (removing what was there):

- `digits_images/<digit>/<row>.png`: 600 of the 8x8 UCI digits of `digits.npz` (the first 60
  of each digit 0-9, `<row>` their row there), as 8-bit grey PNGs (pixels 0..1 scaled to
  0..255), encoded by `tf.io.encode_png`.
- `texts/<topic>/<n>.txt`: 300 short texts, 100 per topic (`cooking`, `space`, `sports`).
  SYNTHETIC: each is a sentence of filler words with two to three words of its topic among
  them, and now and then one word of another topic, drawn from word lists with a fixed seed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 2024
PER_DIGIT = 60
TEXTS_PER_TOPIC = 100

TOPICS = {
    "cooking": "recipe oven flavor bake spice dinner sauce garlic butter kitchen simmer".split(),
    "space": "orbit rocket planet star launch galaxy comet moon telescope astronaut nebula".split(),
    "sports": "goal match team score coach league player season referee stadium trophy".split(),
}
FILLER = (
    "the a today we saw about new very big news people said this week and with after "
    "before many some our their it was is on at for from"
).split()


def digit_images(folder: Path) -> int:
    """Write the first `PER_DIGIT` images of each digit of `digits.npz` as PNGs; how many."""
    import tensorflow as tf

    with np.load(HERE / "digits.npz") as data:
        images, digits = data["images"], data["digit"]
    written = 0
    for digit in range(10):
        rows = np.flatnonzero(digits == digit)[:PER_DIGIT]
        (folder / str(digit)).mkdir(parents=True)
        for row in rows:
            pixels = np.round(images[row] * 255.0).astype(np.uint8)
            png = tf.io.encode_png(pixels).numpy()
            (folder / str(digit) / f"{row:04d}.png").write_bytes(png)
            written += 1
    return written


def texts(folder: Path) -> int:
    """Write `TEXTS_PER_TOPIC` synthetic texts per topic; how many."""
    rng = np.random.default_rng(SEED)
    names = sorted(TOPICS)
    written = 0
    for topic in names:
        (folder / topic).mkdir(parents=True)
        for n in range(TEXTS_PER_TOPIC):
            words = list(rng.choice(TOPICS[topic], rng.integers(2, 4), replace=False))
            words += list(rng.choice(FILLER, rng.integers(5, 9)))
            if rng.random() < 0.3:  # a word of another topic
                other = names[(names.index(topic) + rng.integers(1, 3)) % 3]
                words.append(str(rng.choice(TOPICS[other])))
            sentence = " ".join(rng.permutation(words))
            (folder / topic / f"{n:03d}.txt").write_text(sentence.capitalize() + ".\n")
            written += 1
    return written


def main() -> None:
    for name in ("digits_images", "texts"):
        shutil.rmtree(HERE / name, ignore_errors=True)
    print(f"digits_images: {digit_images(HERE / 'digits_images')} PNGs")
    print(f"texts: {texts(HERE / 'texts')} texts")


if __name__ == "__main__":
    main()
