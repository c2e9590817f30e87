"""One-line diagnostic plots (MATLAB's ``plotperform``, ``plotregression``, ``ploterrhist``).

Each function draws one figure with matplotlib (the ``plot`` extra, imported only when a
function is called) and either writes it to ``path`` (PNG, or any format matplotlib infers
from the name) and returns the path, or, without a path, returns the Figure.
"""

from __future__ import annotations

import numpy as np

_SUGGESTION_LABELS = {"minimum": "minimum / 10"}
_SPLIT_COLOURS = {"train": "tab:blue", "training": "tab:blue", "validation": "tab:green",
                  "val": "tab:green", "test": "tab:red", "all": "black"}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("bpnn.plot needs matplotlib: pip install 'bpnn[plot]'") from None
    return plt


def _finish(figure, path):
    figure.tight_layout()
    if path is None:
        return figure
    figure.savefig(path, dpi=100)
    _pyplot().close(figure)
    return path


def _history_dict(history) -> dict:
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs.get("loss"):
        raise ValueError("performance needs a History (model.fit's return value) or a dict "
                         "with a non-empty 'loss' list per epoch")
    return logs


def performance(history, path=None, metric: str = "loss", log_scale: bool = True):
    """Training, validation and test loss per epoch, the best epoch marked (``plotperform``).

    The best epoch is the one with the lowest validation value (training value without a
    validation split), as ``EarlyStopping(restore_best_weights=True)`` would pick.

    Parameters
    ----------
    history : bpnn.callbacks.History or dict
        Per-epoch logs: ``metric`` for training, ``val_<metric>`` and ``test_<metric>`` when
        present.
    path : str, optional
        File to write; without it the Figure is returned.
    metric : str, default "loss"
    log_scale : bool, default True
        Logarithmic y axis (the loss often falls by decades), used when the values span at
        least a decade and are all positive.

    Returns
    -------
    str or matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the history has no values for ``metric``.
    """
    logs = _history_dict(history)
    if not logs.get(metric):
        raise ValueError(f"the history has no {metric!r} values; it has {sorted(logs)}")
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    curves = [(metric, "train"), (f"val_{metric}", "validation"), (f"test_{metric}", "test")]
    for key, label in curves:
        values = logs.get(key)
        if values:
            axis.plot(np.arange(1, len(values) + 1), values, label=label,
                      color=_SPLIT_COLOURS[label])
    watched = f"val_{metric}" if logs.get(f"val_{metric}") else metric
    values = np.asarray(logs[watched], dtype=float)
    best = int(np.nanargmin(values))
    axis.axvline(best + 1, color="grey", linestyle=":", label=f"best (epoch {best + 1})")
    axis.plot([best + 1], [values[best]], "o", markersize=9, markerfacecolor="none",
              color="grey")
    everything = np.concatenate([np.asarray(logs[k], dtype=float) for k, _ in curves
                                 if logs.get(k)])
    finite = everything[np.isfinite(everything)]
    if log_scale and np.all(finite > 0) and finite.max() >= 10 * finite.min():
        from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

        axis.set_yscale("log")
        # labels at 1, 2, 5 x 10^k written plainly (0.2, not 2 x 10^-1)
        axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        axis.yaxis.set_minor_formatter(NullFormatter())
    which = "validation" if watched != metric else "training"
    axis.set_title(f"Best {which} {metric} {values[best]:.4g} at epoch {best + 1}")
    axis.set_xlabel("epoch")
    axis.set_ylabel(metric)
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    return _finish(figure, path)


def regression_fit(y_true, y_pred) -> dict:
    """Correlation and least-squares line of outputs against targets (all outputs pooled).

    Returns
    -------
    dict
        ``r`` (Pearson correlation), ``slope`` and ``intercept`` of ``output = slope * target
        + intercept``, and ``n``.

    Example
    -------
    >>> import bpnn
    >>> fit = bpnn.plot.regression_fit([1.0, 2.0, 3.0, 4.0], [1.1, 2.0, 2.9, 4.2])
    >>> round(fit["r"], 4), round(fit["slope"], 2)
    (0.9954, 1.02)
    """
    true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    predicted = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if true.shape != predicted.shape or true.size < 2:
        raise ValueError(f"y_true and y_pred need the same number of values (at least 2), got "
                         f"{true.size} and {predicted.size}")
    slope, intercept = np.polyfit(true, predicted, 1)
    spread = true.std() * predicted.std()
    r = float(np.mean((true - true.mean()) * (predicted - predicted.mean())) / spread) \
        if spread > 0 else float("nan")
    return {"r": r, "slope": float(slope), "intercept": float(intercept), "n": int(true.size)}


def _split_groups(y_true, y_pred, splits):
    """``[(name, true, predicted)]``: one group per split label, then "all"."""
    true = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64)
    if len(true) != len(predicted):
        raise ValueError(f"y_true and y_pred have different numbers of samples: {len(true)} "
                         f"and {len(predicted)}")
    if splits is None:
        return [("all", true, predicted)]
    splits = np.asarray(splits)
    if splits.shape != (len(true),):
        raise ValueError(f"splits must hold one label per sample ({len(true)},), got shape "
                         f"{splits.shape}")
    names = list(dict.fromkeys(splits.tolist()))
    groups = [(str(name), true[splits == name], predicted[splits == name]) for name in names]
    if len(names) > 1:
        groups.append(("all", true, predicted))
    return groups


def regression(y_true, y_pred, path=None, splits=None):
    """Outputs against targets with the fitted line and R, per split (``plotregression``).

    Parameters
    ----------
    y_true, y_pred : array_like
        Targets and outputs (several outputs are pooled, as MATLAB does).
    path : str, optional
        File to write; without it the Figure is returned.
    splits : array_like of str, optional
        A split name per sample (``"train"``, ``"validation"``, ``"test"``): one panel per
        split plus one for all samples.

    Returns
    -------
    str or matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the lengths differ or ``splits`` does not hold one label per sample.
    """
    groups = _split_groups(y_true, y_pred, splits)
    plt = _pyplot()
    columns = min(len(groups), 2)
    rows = (len(groups) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 4.4 * rows),
                                squeeze=False)
    for axis, (name, true, predicted) in zip(axes.flat, groups, strict=False):
        fit = regression_fit(true, predicted)
        colour = _SPLIT_COLOURS.get(name.lower(), "tab:purple")
        low = float(min(true.min(), predicted.min()))
        high = float(max(true.max(), predicted.max()))
        pad = 0.05 * (high - low or 1.0)
        ends = np.array([low - pad, high + pad])
        axis.plot(true.reshape(-1), predicted.reshape(-1), "o", markersize=4, alpha=0.6,
                  markerfacecolor="none", color=colour, label="data")
        axis.plot(ends, fit["slope"] * ends + fit["intercept"], color=colour, label="fit")
        axis.plot(ends, ends, ":", color="grey", label="output = target")
        axis.set_xlim(*ends)
        axis.set_ylim(*ends)
        axis.set_aspect("equal")
        axis.set_title(f"{name}: R = {fit['r']:.4f}")
        axis.set_xlabel("target")
        sign = "-" if fit["intercept"] < 0 else "+"
        axis.set_ylabel(f"output ~ {fit['slope']:.2f} * target {sign} "
                        f"{abs(fit['intercept']):.2g}")
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize="small")
    for axis in list(axes.flat)[len(groups):]:
        axis.set_visible(False)
    return _finish(figure, path)


def error_histogram(y_true, y_pred, path=None, splits=None, bins: int = 20):
    """Histogram of the errors ``target - output``, stacked by split (``ploterrhist``).

    Parameters
    ----------
    y_true, y_pred : array_like
    path : str, optional
        File to write; without it the Figure is returned.
    splits : array_like of str, optional
        A split name per sample; the bars are stacked by split.
    bins : int, default 20

    Returns
    -------
    str or matplotlib.figure.Figure
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    groups = _split_groups(y_true, y_pred, splits)
    if len(groups) > 1:
        groups = groups[:-1]  # stacked splits already add up to "all"
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    errors = [(true - predicted).reshape(-1) for _, true, predicted in groups]
    axis.hist(errors, bins=bins, stacked=True, edgecolor="white",
              color=[_SPLIT_COLOURS.get(n.lower(), "tab:purple") for n, _, _ in groups],
              label=[n for n, _, _ in groups])
    axis.axvline(0.0, color="tab:orange", linewidth=2, label="zero error")
    axis.set_title(f"Error histogram with {bins} bins")
    axis.set_xlabel("error = target - output")
    axis.set_ylabel("samples")
    axis.grid(alpha=0.3)
    axis.legend()
    return _finish(figure, path)


def lr_find(result, path=None, skip_start: int = 10, skip_end: int = 5):
    """Smoothed loss against the learning rate (log x), suggestions marked.

    Parameters
    ----------
    result : bpnn.train.LRFinderResult
    path : str, optional
    skip_start, skip_end : int, default 10, 5
        Points left out at the start and the end (fastai's plot defaults).

    Returns
    -------
    str or matplotlib.figure.Figure
    """
    lrs = np.asarray(result.lrs)
    losses = np.asarray(result.losses)
    keep = slice(skip_start, len(lrs) - skip_end if skip_end else None)
    if len(lrs[keep]) < 2:
        keep = slice(None)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    axis.plot(lrs[keep], losses[keep], color="tab:blue")
    markers = {"valley": ("tab:red", "o"), "steep": ("tab:green", "^"),
               "minimum": ("tab:purple", "s")}
    for name, lr in result.suggestions.items():
        colour, marker = markers.get(name, ("black", "x"))
        index = int(np.argmin(np.abs(np.log(lrs) - np.log(lr))))
        axis.plot([lrs[index]], [losses[index]], marker, color=colour, markersize=8,
                  label=_SUGGESTION_LABELS.get(name, name) + f": {lr:.2g}"
                  + (" (suggestion)" if name == "valley" else ""))
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("smoothed loss")
    axis.set_title("Learning-rate range test")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    return _finish(figure, path)
