"""The demo: a small MLP on scikit-learn's bundled digits, with epoch_eval's sinks.

Run it with `python -m epoch_eval.demo` (or the `epoch-eval-demo` console script). It needs no
network: the 1,797 8x8 digit images ship inside scikit-learn. It trains for a few epochs (a few
seconds on a laptop CPU), prints epoch_eval's line under each of Keras' epoch lines, writes the
confusion matrix, ROC and precision-recall charts of every epoch into a folder and an HTML
report beside it, and ends by printing where they are and `history.history["val_f1"]`.

    python -m epoch_eval.demo --epochs 5 --output my_charts
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

DEFAULT_OUTPUT = "epoch_eval_demo_charts"
DEFAULT_EPOCHS = 8
SEED = 0
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m epoch_eval.demo",
        description="Train a small MLP on scikit-learn's digits and watch epoch_eval's "
                    "whole-validation-set metrics and charts at each epoch.",
    )
    parser.add_argument("--output", default=DEFAULT_OUTPUT, metavar="DIR",
                        help=f"folder for the chart PNGs (default: ./{DEFAULT_OUTPUT})")
    parser.add_argument("--epochs", type=_positive_int, default=DEFAULT_EPOCHS, metavar="N",
                        help=f"maximum number of epochs (default: {DEFAULT_EPOCHS})")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: `python -m epoch_eval.demo [--output DIR] [--epochs N]`.

    Args:
        argv: command-line arguments (default `sys.argv[1:]`).
    """
    args = parse_args(argv)
    try:
        import epoch_eval.callback  # noqa: F401  (without a Keras backend: names the extras)
    except ImportError as error:  # a message, not a traceback
        raise SystemExit(f"epoch_eval demo: {error}") from None
    run(args.output, epochs=args.epochs)


def run(output_dir: str | os.PathLike[str] = DEFAULT_OUTPUT, *,
        epochs: int = DEFAULT_EPOCHS) -> dict[str, list[float]]:
    """Train the demo model, print as it goes, and return `history.history`.

    Args:
        output_dir: the folder for the chart PNGs (created if missing).
        epochs: the maximum number of epochs (EarlyStopping on `val_f1` may stop sooner).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from epoch_eval import EarlyStopping, EpochEvaluator, HistoryLogs, HtmlReport, PngFolder, Stdout

    keras.utils.set_random_seed(SEED)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")  # pixel intensities 0..16 -> 0..1
    y = digits.target.astype("int32")
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=SEED)
    class_names = list(DIGIT_NAMES)

    model = keras.Sequential([
        keras.Input(shape=(x.shape[1],)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(len(class_names), activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy")

    output = Path(output_dir).resolve()
    report = output.with_name(output.name + ".html")  # beside the chart folder
    print(f"epoch_eval demo: {len(x_train)} training and {len(x_val)} validation digits, "
          f"up to {epochs} epochs; charts go to {output}")
    # The evaluator comes FIRST: only callbacks listed after it see `val_f1`. Every value
    # gets a 95% interval, and the stopper counts only gains beyond the noise of 450 rows.
    evaluator = EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), PngFolder(output),
                                                      HtmlReport(report), Stdout()],
                               class_names=class_names)
    callbacks = [evaluator, EarlyStopping(evaluator, monitor="f1", patience=3,
                                          restore_best_weights=True)]
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=32,
                        callbacks=callbacks, verbose=2)

    epochs_run = range(1, len(history.epoch) + 1)
    charts = [[path.name for path in (output / f"{chart}_epoch_{epoch:03d}.png"
                                      for epoch in epochs_run) if path.is_file()]
              for chart in ("confusion_matrix", "roc_curve", "pr_curve")]
    print(f"\nCharts: {sum(map(len, charts))} PNG files in {output}")
    for names in charts:
        if names:
            print(f"  {names[0]} ... {names[-1]} ({len(names)} files)")
    print(f"HTML report (every epoch, one slider): {report}")
    val_f1 = [round(value, 4) for value in history.history["val_f1"]]
    print(f'history.history["val_f1"] = {val_f1}')
    return history.history


if __name__ == "__main__":
    main()
