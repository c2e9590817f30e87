"""What ``bpnn train`` writes besides the model: metrics, curves, confusion matrix, report.md."""

from __future__ import annotations

import csv

import numpy as np

from bpnn.train import metrics


def classification_metrics(true: np.ndarray, scores: np.ndarray, class_names: list) -> dict:
    """Accuracy, macro F1, the confusion matrix and a per-class table.

    Parameters
    ----------
    true : ndarray of int, shape (n,)
        Class indices.
    scores : ndarray, shape (n, n_classes)
        Logits or probabilities.
    class_names : list
        Original label names, index ``i`` naming class ``i``.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``confusion`` (rows true, columns predicted) and
        ``per_class`` (``label``, ``precision``, ``recall``, ``f1``, ``support``).
    """
    confusion = metrics.confusion_matrix(true, scores.argmax(axis=1), len(class_names))
    precision, recall, f1 = metrics.precision_recall_f1(confusion)
    support = confusion.sum(axis=1)
    return {
        "accuracy": float(metrics.accuracy(true, scores)),
        "macro_f1": float(metrics.f1(true, scores)),
        "n": int(len(true)),
        "confusion": confusion.tolist(),
        "per_class": [
            {"label": name, "precision": float(precision[i]), "recall": float(recall[i]),
             "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(class_names)
        ],
    }


def regression_metrics(true: np.ndarray, predicted: np.ndarray) -> dict:
    """RMSE, MAE and R^2 in the target's own units."""
    true = np.asarray(true, dtype=np.float64).reshape(-1, 1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1, 1)
    return {"rmse": float(metrics.rmse(true, predicted)),
            "mae": float(metrics.mae(true, predicted)),
            "r2": float(metrics.r2(true, predicted)), "n": int(len(true))}


def summary_lines(result: dict, task: str) -> list:
    """The metrics as plain-text lines (a Markdown table for the per-class scores)."""
    if task == "regression":
        return [f"RMSE {result['rmse']:.4g}   MAE {result['mae']:.4g}   "
                f"R^2 {result['r2']:.4f}   ({result['n']} rows)"]
    lines = [f"accuracy {result['accuracy']:.4f}   macro F1 {result['macro_f1']:.4f}   "
             f"({result['n']} rows)", "",
             "| class | precision | recall | F1 | support |",
             "|---|---:|---:|---:|---:|"]
    for row in result["per_class"]:
        lines.append(f"| {row['label']} | {row['precision']:.4f} | {row['recall']:.4f} | "
                     f"{row['f1']:.4f} | {row['support']} |")
    return lines


def write_history(path: str, history: dict) -> None:
    """One row per epoch: ``epoch`` then every logged quantity."""
    keys = list(history)
    epochs = len(history[keys[0]]) if keys else 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *keys])
        for epoch in range(epochs):
            writer.writerow([epoch + 1, *(f"{history[k][epoch]:.6g}" for k in keys)])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def plot_curves(path: str, history: dict, metric: str, best_epoch: int | None = None) -> None:
    """Loss and ``metric`` per epoch, training and validation, side by side."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for axis, key, title in ((axes[0], "loss", "loss"), (axes[1], metric, metric)):
        if key in history:
            axis.plot(epochs, history[key], label="train")
        if "val_" + key in history:
            axis.plot(epochs, history["val_" + key], label="validation")
        if best_epoch is not None:
            axis.axvline(best_epoch, color="grey", linestyle=":", label="best epoch")
        axis.set_xlabel("epoch")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# Above these class counts the plot drops the per-cell counts, then the tick labels: one text
# per cell made 100 classes take 25 s and 1.4 GB. The counts stay in metrics.json.
CONFUSION_CELL_TEXT_MAX = 30
CONFUSION_TICK_LABELS_MAX = 60


def plot_confusion(path: str, confusion, class_names: list) -> None:
    """The test confusion matrix: a heatmap, with counts in the cells for up to 30 classes."""
    plt = _pyplot()
    confusion = np.asarray(confusion)
    n = len(class_names)
    size = min(16.0, max(4.0, 0.6 * n + 2))
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(confusion, cmap="Blues", interpolation="nearest")
    if n <= CONFUSION_TICK_LABELS_MAX:
        ticks = np.arange(n)
        labels = [str(name) for name in class_names]
        axis.set_xticks(ticks, labels, rotation=45 if max(map(len, labels)) > 3 else 0)
        axis.set_yticks(ticks, labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if n > CONFUSION_CELL_TEXT_MAX:
        figure.colorbar(image, ax=axis)
    threshold = confusion.max() / 2 if confusion.size else 0
    cells = np.ndenumerate(confusion) if n <= CONFUSION_CELL_TEXT_MAX else ()
    for (row, col), count in cells:
        axis.text(col, row, str(count), ha="center", va="center",
                  color="white" if count > threshold else "black")
    axis.set_title("test confusion matrix")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def markdown_report(facts: dict) -> str:
    """``report.md``: data, preprocessing, network, training and test metrics."""
    lines = [f"# bpnn model: {facts['target']} from {facts['data_name']}", ""]
    split = facts["split"]
    lines += [
        "## Data", "",
        f"- file: `{facts['data']}` ({facts['rows']} rows, {facts['columns']} columns)",
        f"- target: `{facts['target']}`, {facts['task']} ({facts['task_reason']})",
        f"- split (seed {facts['seed']}): {split['train']} train, {split['validation']} "
        f"validation, {split['test']} test" + (", stratified by class"
                                              if facts["task"] == "classification" else ""),
        f"- features: {facts['numeric']} numeric (median-imputed, standardised), "
        f"{facts['categorical']} categorical (one-hot) -> {facts['n_features']} inputs",
    ]
    for note in facts["notes"]:
        lines.append(f"- note: {note}")
    lines += ["", "## Network and training", "",
              f"- network: {facts['architecture']} ({facts['parameters']} parameters)",
              f"- loss: {facts['loss']}; optimizer: {facts['optimizer']}",
              f"- epochs: {facts['epochs_run']} run of {facts['epochs']} "
              f"({facts['stopping']}), {facts['train_seconds']:.1f} s",
              "", "![loss and metric per epoch](curves.png)", "",
              f"## Test metrics ({facts['evaluated_on']})", ""]
    lines += summary_lines(facts["metrics"], facts["task"])
    if facts["task"] == "classification":
        lines += ["", "![confusion matrix](confusion.png)"]
    lines += ["", "## Files", "",
              "- `model.bpnn`: the network (safetensors + JSON, `bpnn.load`)",
              "- `preprocessing.json`: column handling learned from the training rows",
              "- `bpnn-model.json`: what this folder is and how it was trained",
              "- `metrics.json`, `history.csv`, `curves.png`"
              + (", `confusion.png`" if facts["task"] == "classification" else ""), "",
              facts["next_step"], ""]
    return "\n".join(lines)
