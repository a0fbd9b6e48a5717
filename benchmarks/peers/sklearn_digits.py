"""Peer of ``fastdl train``: scikit-learn's MLPClassifier on the same digits split.

MLPClassifier(hidden_layer_sizes=(128, 64)), ReLU, Adam lr 1e-3, batch 32, 30
epochs (``max_iter`` counts epochs for the adam solver), no L2 penalty
(``alpha=0``, as fastdl's Adam has no weight decay; sklearn's default is 1e-4,
``--alpha`` sets it) and no early stop by tolerance within those 30 epochs.
Prints one line like ``fastdl train``'s::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/peers/sklearn_digits.py
"""

from __future__ import annotations

import argparse
import time
import warnings

START = time.perf_counter()

from _digits import BATCH_SIZE, EPOCHS, HIDDEN, LR, SEED, load_digits_split  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--alpha", type=float, default=0.0)
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = load_digits_split()
    model = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver="adam",
        learning_rate_init=LR,
        batch_size=BATCH_SIZE,
        max_iter=args.epochs,
        alpha=args.alpha,
        n_iter_no_change=args.epochs + 1,
        random_state=SEED,
    )
    fit_start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached, as intended
        model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - fit_start
    accuracy = model.score(X_test, y_test)
    print(
        f"test_accuracy={accuracy:.3f} train_loss={model.loss_:.4f} epochs={model.n_iter_} "
        f"fit_seconds={fit_seconds:.2f} seconds={time.perf_counter() - START:.2f} "
        f"peer=sklearn"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
