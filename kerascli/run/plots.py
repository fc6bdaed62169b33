"""The run's `history.png`: loss and metrics per epoch."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from kerascli.spec.log_names import SPLIT_PREFIXES, training_names


def plot_history(rows: list[dict[str, Any]], path: Path) -> None:
    """Loss and metrics per epoch, one panel per metric (train and validation together); a
    dotted line where a fine-tuning stage begins (rows with a `stage`)."""
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in training_names(rows[0]) if name != "stage"]
    validation = SPLIT_PREFIXES["validation"]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    starts = [
        row["epoch"]
        for row, before in zip(rows[1:], rows[:-1], strict=True)
        if row.get("stage") != before.get("stage")
    ]
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot(epochs, [r.get(name, math.nan) for r in rows], label="train")
        if any(f"{validation}{name}" in r for r in rows):
            values = [r.get(f"{validation}{name}", math.nan) for r in rows]
            ax.plot(epochs, values, label="validation")
        for start in starts:
            ax.axvline(start - 0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    try:
        fig.savefig(tmp, dpi=80)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
