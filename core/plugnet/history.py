"""The record of a training run, and its learning curves."""

from __future__ import annotations

from pathlib import Path

from plugnet.callbacks import Callback


class History(Callback):
    """``history`` maps each metric (``loss``, ``accuracy``, ``val_loss``, ...) to per-epoch
    values; ``epoch`` lists the epoch numbers (0-based)."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def plot(self, path: str | Path) -> Path:
        """Write a PNG with a panel per logged value (loss first, then accuracy and the other
        metrics), training and validation together; the learning rate only when it changed.

        Needs matplotlib: ``pip install "plugnet[plot]"``.
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(
                'History.plot needs matplotlib, which is not installed: pip install "plugnet[plot]"'
            ) from exc
        if not self.history:
            raise ValueError("the history is empty: train for at least one epoch before plotting")
        metrics: list[str] = [m for m in ("loss", "accuracy") if m in self.history]
        metrics += [m for m in self.history if not m.startswith("val_") and m not in metrics]
        if len(set(self.history.get("lr", []))) <= 1 and "lr" in metrics:
            metrics.remove("lr")  # a constant learning rate is a flat line, not a curve
        figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for axis, metric in zip(axes[0], metrics, strict=True):
            axis.plot(epochs, self.history[metric], label="training", marker=".")
            if f"val_{metric}" in self.history:
                axis.plot(epochs, self.history[f"val_{metric}"], label="validation", marker=".")
            axis.set_xlabel("epoch")
            axis.set_ylabel(metric)
            axis.set_title(metric)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()
        target = Path(path)
        figure.savefig(target, dpi=110)
        plt.close(figure)
        return target

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"
