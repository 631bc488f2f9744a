"""Run by test_multiprocess.py as one of 2 local JAX processes training together (Gloo CPU
collectives, 2 host devices each, Keras' `DataParallel` over all 4): a fit in predict mode,
then one in tally mode, each process feeding its own share of the training rows. Writes
`summary_<process>.json` into the output folder; prints a line at each stage (the launcher
names the last one if the process hangs).

    python multiprocess_fit.py PROCESS_ID PORT OUTPUT_FOLDER
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=2").strip()

PROCESSES = 2
EPOCHS = 4  # both fits stop after epoch 2 (see the stoppers)
BATCH = 32
VAL_ROWS = 451  # odd: the processes' shares differ by one row

process_id, port, output = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])


def say(stage: str) -> None:
    print(f"process {process_id}: {stage}", flush=True)


say("importing")
import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from distributed_setup import digits_split, small_model  # noqa: E402
from sklearn import metrics  # noqa: E402

import epoch_eval  # noqa: E402
from epoch_eval import EpochEvaluator, HistoryLogs, JsonLines, PngFolder, Stdout, Tally  # noqa: E402
from epoch_eval.callback.sharding import share_bounds  # noqa: E402


def main() -> None:
    say("initializing")
    keras.distribution.initialize(job_addresses=f"localhost:{port}", num_processes=PROCESSES,
                                  process_id=process_id)
    keras.distribution.set_distribution(keras.distribution.DataParallel(
        devices=keras.distribution.list_devices(), auto_shard_dataset=False))
    x_train, y_train, x_val, y_val = digits_split(train_rows=1152, val_rows=VAL_ROWS)
    own = slice(*share_bounds(len(x_train), PROCESSES, process_id))  # 576 rows: 18 batches
    summary = {"predict": predict_mode(x_train[own], y_train[own], x_val, y_val),
               "tally": tally_mode(x_train[own], y_train[own], x_val, y_val),
               "refused": one_process_fails(x_train[own], y_train[own], x_val, y_val)}
    (output / f"summary_{process_id}.json").write_text(json.dumps(summary))
    say("done")


def predict_mode(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    """Three evaluators: one given the whole set as arrays (it takes its own rows), one given
    this process' own unequal shard (`sharded=True`), one given batches (it takes every other
    one); epoch_eval's EarlyStopping on the first."""
    say("predict mode: fitting")
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    predicted_rows = count_predicted_rows(model)
    whole = EpochEvaluator((x_val, y_val), sinks=sinks("predict"))
    rows = slice(*share_bounds(len(x_val), PROCESSES, process_id))  # 226 or 225 rows
    sharded = EpochEvaluator((x_val[rows], y_val[rows]), sharded=True,
                             sinks=[HistoryLogs(prefix="val_sharded_")])
    # batches from a callable, the whole set in each process: every other batch predicted
    batched = EpochEvaluator(lambda: [(x_val[i:i + 64], y_val[i:i + 64])
                                      for i in range(0, len(x_val), 64)],
                             sinks=[HistoryLogs(prefix="val_batches_")])
    # mode="min" on a rising F1: no significant drop at epoch 2, so a stop there, decided
    # from the gathered rows of epochs 1 and 2 (a paired test)
    stopper = epoch_eval.EarlyStopping(whole, monitor="f1", patience=1, mode="min")
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0,
                        callbacks=[whole, sharded, batched, stopper])
    say("predict mode: counting the rows of one pass")
    per_pass = {}
    for name, evaluator in (("whole", whole), ("sharded", sharded), ("batches", batched)):
        predicted_rows.clear()
        evaluator.evaluate_now()
        per_pass[name] = sum(predicted_rows)
    return {"history": history.history, "stopped_epoch": stopper.stopped_epoch,
            "rows_predicted": per_pass, **sklearn_values(model, x_val, y_val)}


def tally_mode(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    """A Tally in fit's own validation pass over `epoch_eval.shard`'s equal, padded shares;
    Keras' EarlyStopping on val_f1."""
    say("tally mode: fitting")
    model = small_model()
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy", weighted_metrics=[tally])
    evaluator = EpochEvaluator(tally, sinks=sinks("tally"))
    stopper = keras.callbacks.EarlyStopping(monitor="val_f1", mode="min", patience=1)
    validation = epoch_eval.shard(x_val, y_val, batch_size=BATCH)
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0,
                        validation_data=validation, validation_batch_size=BATCH,
                        callbacks=[evaluator, stopper])
    evaluation = evaluator.latest.evaluation
    return {"history": history.history, "stopped_epoch": stopper.stopped_epoch,
            "share_rows": len(validation[1]), "n_samples": evaluation.n_samples,
            "roc_auc_error_bound": evaluation.roc_auc_error_bound,
            **sklearn_values(model, x_val, y_val)}


def one_process_fails(x: np.ndarray, y: np.ndarray, x_val: np.ndarray,
                      y_val: np.ndarray) -> dict:
    """Process 1's validation data cannot be read: both fits must raise before training,
    none wait for the other."""
    say("a failing process: fitting")

    def batches():
        if process_id == 1:
            raise RuntimeError("process 1's data is broken")
        return [(x_val[:64], y_val[:64])]

    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    try:
        model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0,
                  callbacks=[EpochEvaluator(batches, sharded=True)])
    except Exception as error:
        return {"error": type(error).__name__, "message": str(error),
                "trained_batches": int(keras.ops.convert_to_numpy(model.optimizer.iterations))}
    return {"error": None}


def sinks(mode: str) -> list:
    return [HistoryLogs(), PngFolder(output / f"{mode}_charts"),
            JsonLines(output / f"{mode}.jsonl"),
            Stdout(open(output / f"{mode}_stdout_{process_id}.txt", "w", buffering=1))]


def count_predicted_rows(model: keras.Model) -> list[int]:
    """Record the rows of every `predict_on_batch` call of `model` (the evaluator's)."""
    calls: list[int] = []
    predict_on_batch = model.predict_on_batch

    def counted(x):
        calls.append(len(x))
        return predict_on_batch(x)

    model.predict_on_batch = counted
    return calls


def sklearn_values(model: keras.Model, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    """scikit-learn's six values on the whole validation set with the model's final weights."""
    scores = np.asarray(model.predict_on_batch(x_val), dtype=np.float64)
    predicted = scores.argmax(axis=1)
    onehot = np.eye(scores.shape[1])[y_val]
    return {"sklearn": {
        "f1": metrics.f1_score(y_val, predicted, average="macro"),
        "precision": metrics.precision_score(y_val, predicted, average="macro",
                                             zero_division=0),
        "recall": metrics.recall_score(y_val, predicted, average="macro"),
        "accuracy": metrics.accuracy_score(y_val, predicted),
        "roc_auc": metrics.roc_auc_score(y_val, scores, multi_class="ovr", average="macro"),
        "pr_auc": metrics.average_precision_score(onehot, scores, average="macro"),
    }, "n_val": len(y_val)}


if __name__ == "__main__":
    main()
