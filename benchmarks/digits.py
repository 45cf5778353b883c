"""The digits example against scikit-learn's MLPClassifier: same data, architecture, settings.

    python benchmarks/digits.py [--repeats 3]

8×8 digits scaled to [0, 1], a stratified 25% test split (random_state=0), an MLP 64-128-10 with
relu, softmax + cross-entropy, adam lr=1e-3, batch 32, 30 epochs, no L2 penalty. Prints the
median training time and test accuracy of each. Target: plugnet no slower than scikit-learn.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import plugnet

EPOCHS, BATCH, LR, HIDDEN = 30, 32, 1e-3, 128


def load() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return tuple(
        train_test_split(x, digits.target, test_size=0.25, stratify=digits.target, random_state=0)
    )


def run_plugnet(
    x_train: np.ndarray,
    x_test: np.ndarray,
    t_train: np.ndarray,
    t_test: np.ndarray,
    seed: int,
    epochs: int = EPOCHS,
) -> float:
    net = plugnet.Sequential(
        [
            {"type": "dense", "units": HIDDEN, "activation": "relu"},
            {"type": "dense", "units": 10, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer=f"adam(lr={LR})",
        seed=seed,
    )
    net.fit(x_train, t_train, epochs=epochs, batch_size=BATCH, verbose=0)
    return net.evaluate(x_test, t_test)["accuracy"]


def run_sklearn(
    x_train: np.ndarray,
    x_test: np.ndarray,
    t_train: np.ndarray,
    t_test: np.ndarray,
    seed: int,
    epochs: int = EPOCHS,
) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=(HIDDEN,),
        activation="relu",
        solver="adam",
        learning_rate_init=LR,
        batch_size=BATCH,
        max_iter=epochs,
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, t_train)
    return float(model.score(x_test, t_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="seeds 0..repeats-1")
    args = parser.parse_args()
    data = load()
    results: dict[str, tuple[list[float], list[float]]] = {
        "plugnet": ([], []),
        "scikit-learn": ([], []),
    }
    for seed in range(args.repeats):  # interleaved, so drift hits both alike
        for name, run in (("plugnet", run_plugnet), ("scikit-learn", run_sklearn)):
            start = time.perf_counter()
            accuracy = run(*data, seed)
            results[name][0].append(time.perf_counter() - start)
            results[name][1].append(accuracy)
    print(
        f"digits MLP 64-{HIDDEN}-10, {EPOCHS} epochs, batch {BATCH}, seeds 0..{args.repeats - 1}:"
    )
    for name, (times, accuracies) in results.items():
        print(
            f"  {name:<13} median {statistics.median(times):6.2f} s   test accuracy "
            f"{min(accuracies):.4f}–{max(accuracies):.4f} (mean {statistics.mean(accuracies):.4f})"
        )
    ratio = statistics.median(results["plugnet"][0]) / statistics.median(results["scikit-learn"][0])
    print(f"plugnet / scikit-learn time = {ratio:.2f} (target ≤ 1.00)")


if __name__ == "__main__":
    main()
