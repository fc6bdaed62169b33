"""The run's `history.png`: loss and metrics per epoch."""

from __future__ import annotations

import math
import os
from pathlib import Path


def plot_history(rows: list[dict[str, float]], path: Path) -> None:
    """Loss and metrics per epoch, one panel per metric (train and validation together)."""
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [
        k for k in rows[0] if k != "epoch" and not k.startswith("val_") and k != "learning_rate"
    ]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot(epochs, [r.get(name, math.nan) for r in rows], label="train")
        if any(f"val_{name}" in r for r in rows):
            ax.plot(epochs, [r.get(f"val_{name}", math.nan) for r in rows], label="validation")
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
