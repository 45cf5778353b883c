"""The record of a training run, and its learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

from plugnet.callbacks import Callback

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The HTML view of a history shows its last epochs, this many; .history holds them all.
HTML_EPOCHS = 5


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

    @overload
    def plot(
        self, path: None = None, *, metrics: Sequence[str] | None = None, logy: bool = False
    ) -> Figure: ...
    @overload
    def plot(
        self, path: str | Path, *, metrics: Sequence[str] | None = None, logy: bool = False
    ) -> Path: ...
    def plot(
        self,
        path: str | Path | None = None,
        *,
        metrics: Sequence[str] | None = None,
        logy: bool = False,
    ) -> Figure | Path:
        """Learning curves, a panel per logged value (loss first, then accuracy and the other
        metrics; the learning rate only when it changed), training and validation together.

        With ``path``, writes a PNG there and returns the path; without, returns the matplotlib
        figure, which a notebook shows inline. ``metrics`` picks the panels (training names:
        ``["loss", "accuracy"]``; each shows its ``val_`` curve too); ``logy=True`` draws the
        values on a log scale, as pandas' ``plot(logy=True)`` does.

        Needs matplotlib: ``pip install "plugnet[plot]"``.
        """
        try:
            # First: matplotlib.figure may be in sys.modules when matplotlib is not importable.
            import matplotlib  # noqa: F401
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise ImportError(
                'History.plot needs matplotlib, which is not installed: pip install "plugnet[plot]"'
            ) from exc
        if not self.history:
            raise ValueError("the history is empty: train for at least one epoch before plotting")
        panels = self._panels(metrics)
        size = (5 * len(panels), 3.6)
        if path is not None:
            # A figure outside pyplot: no backend is chosen or changed (a notebook keeps its own).
            figure = Figure(figsize=size)
            self._draw(figure, panels, logy)
            target = Path(path)
            figure.savefig(target, dpi=110)
            return target
        import matplotlib.pyplot as plt

        # Made by pyplot, so that the notebook's backend (inline) knows how to show it; closed,
        # so that the notebook shows it once, as the cell's value, not again with the open figures.
        figure = plt.figure(figsize=size)
        plt.close(figure)
        self._draw(figure, panels, logy)
        return figure

    def _panels(self, metrics: Sequence[str] | None) -> list[str]:
        trained = [key for key in self.history if not key.startswith("val_")]
        if metrics is None:
            panels: list[str] = [m for m in ("loss", "accuracy") if m in self.history]
            panels += [m for m in trained if m not in panels]
            if len(set(self.history.get("lr", []))) <= 1 and "lr" in panels:
                panels.remove("lr")  # a constant learning rate is a flat line, not a curve
            return panels
        if isinstance(metrics, str):
            metrics = [metrics]
        unknown = [m for m in metrics if m not in trained]
        if unknown or not metrics:
            raise ValueError(
                f"History.plot(metrics=...) got {list(metrics)!r}; name one or more of "
                f"{', '.join(trained)} (a panel shows the val_ curve with the training one)"
            )
        return list(dict.fromkeys(metrics))

    def _draw(self, figure: Figure, panels: list[str], logy: bool) -> None:
        axes = figure.subplots(1, len(panels), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for axis, metric in zip(axes[0], panels, strict=True):
            axis.plot(epochs, self.history[metric], label="training", marker=".")
            if f"val_{metric}" in self.history:
                axis.plot(epochs, self.history[f"val_{metric}"], label="validation", marker=".")
            if logy:
                axis.set_yscale("log")
            axis.set_xlabel("epoch")
            axis.set_ylabel(metric)
            axis.set_title(metric)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys=[{', '.join(self.history)}])"

    def _repr_html_(self) -> str:
        """A table of the last epochs' values, which Jupyter shows for a history."""
        from html import escape  # here: html.entities costs ms at start-up

        caption = escape(repr(self))
        if not self.epoch:
            return f"<table><caption>{caption}</caption></table>"
        shown = range(max(0, len(self.epoch) - HTML_EPOCHS), len(self.epoch))
        if len(shown) < len(self.epoch):
            caption += f" (the last {len(shown)} epochs)"
        head = "".join(f"<th>{escape(key)}</th>" for key in ("epoch", *self.history))
        rows = "".join(
            f"<tr><td>{self.epoch[i] + 1}</td>"
            + "".join(
                f"<td>{_cell(values, i, len(self.epoch))}</td>" for values in self.history.values()
            )
            + "</tr>"
            for i in shown
        )
        return (
            f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )


def _cell(values: list[float], index: int, epochs: int) -> str:
    # A key first logged in a later epoch (by a callback) lacks the earlier ones: align at the end.
    at = index - (epochs - len(values))
    return f"{values[at]:.4g}" if at >= 0 else ""
