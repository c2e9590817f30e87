"""Image augmentation and normalisation for batches: shift, crop, rotate, flip, noise, scale.

Every transform takes a whole batch, a NumPy array shaped ``(N, C, H, W)`` (or ``(N, H, W)``),
and returns a new array of the same shape and dtype; each sample gets its own random draw, but
the work is vectorised over the batch (no Python loop over samples or pixels). Random draws come
from bpnn's global generator (:func:`bpnn.manual_seed`) unless a transform is given ``seed=``,
which gives it a generator of its own.

Give them to the training loader only, e.g. ``DataLoader((x, y), batch_size=64, shuffle=True,
transform=Compose([RandomTranslate(2), RandomHorizontalFlip()]))``: each epoch then sees freshly
augmented batches, while the validation and test data stay as they are.
"""

from __future__ import annotations

import math
import numbers

from bpnn import backend
from bpnn.backend import xp
from bpnn.functional.conv import int_pair  # the one int-or-pair check, shared with the layers

__all__ = [
    "Compose", "GaussianNoise", "Normalize", "RandomCrop", "RandomHorizontalFlip",
    "RandomRotation", "RandomTranslate", "Transform",
]


class Transform:
    """Base class: ``__call__`` checks the batch, adds a channel axis to ``(N, H, W)`` input,
    calls :meth:`apply` on ``(N, C, H, W)`` and removes the axis again."""

    needs_float = False

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self._own_rng = None if seed is None else xp.random.default_rng(seed)

    @property
    def rng(self):
        """This transform's generator when seeded, else bpnn's global one (read at each call)."""
        return self._own_rng if self._own_rng is not None else backend.get_rng()

    def __call__(self, batch):
        batch = xp.asarray(batch)
        if batch.ndim not in (3, 4):
            raise ValueError(f"{type(self).__name__} expects a batch of images shaped (N, C, H, W) "
                             f"or (N, H, W), got shape {batch.shape}")
        if self.needs_float and batch.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__} needs float images, got dtype {batch.dtype}; "
                            "convert first, e.g. x.astype('float32') / 255")
        if batch.ndim == 3:
            return self.apply(batch[:, None])[:, 0]
        return self.apply(batch)

    def apply(self, batch):  # pragma: no cover - interface
        """Transform a batch array ``(N, C, H, W)``; returns the new batch."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        """The arguments shown in ``repr``."""
        return ""


class Compose(Transform):
    """Apply transforms one after the other.

    Parameters
    ----------
    transforms : sequence of callables
        Each takes and returns a batch array.

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.transforms import Compose, RandomHorizontalFlip, RandomTranslate
    >>> augment = Compose([RandomTranslate(2, seed=0), RandomHorizontalFlip(seed=1)])
    >>> augment(np.zeros((8, 1, 28, 28), dtype=np.float32)).shape
    (8, 1, 28, 28)
    """

    def __init__(self, transforms):
        super().__init__()
        self.transforms = list(transforms)
        for transform in self.transforms:
            if not callable(transform):
                raise TypeError(f"Compose takes callables, got {type(transform).__name__}")

    def __call__(self, batch):
        for transform in self.transforms:
            batch = transform(batch)
        return batch

    def extra_repr(self) -> str:
        return ", ".join(repr(t) for t in self.transforms)


class Normalize(Transform):
    """``(x - mean) / std`` per channel, as ``torchvision.transforms.Normalize``.

    Parameters
    ----------
    mean, std : float or sequence of float
        One value, or one per channel.

    Raises
    ------
    ValueError
        If a ``std`` is not positive, or the number of values does not match the channels.

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.transforms import Normalize
    >>> Normalize(0.5, 0.25)(np.ones((2, 1, 3, 3), dtype=np.float32))[0, 0, 0, 0]
    np.float32(2.0)
    """

    needs_float = True

    def __init__(self, mean, std):
        super().__init__()
        self.mean = xp.atleast_1d(xp.asarray(mean, dtype=xp.float64))
        self.std = xp.atleast_1d(xp.asarray(std, dtype=xp.float64))
        if (self.std <= 0).any():
            raise ValueError(f"Normalize: std must be positive, got {std!r}")

    def apply(self, batch):
        channels = batch.shape[1]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values.size not in (1, channels):
                raise ValueError(f"Normalize: {values.size} {name} values for a batch with "
                                 f"{channels} channels (shape {batch.shape})")
        mean = self.mean.astype(batch.dtype).reshape(1, -1, 1, 1)
        scale = (1.0 / self.std).astype(batch.dtype).reshape(1, -1, 1, 1)
        return (batch - mean) * scale

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``.

    Parameters
    ----------
    p : float, default 0.5
    seed : int, optional
        Use a generator of its own instead of bpnn's global one.

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.transforms import RandomHorizontalFlip
    >>> RandomHorizontalFlip(p=1.0)(np.arange(3.0).reshape(1, 1, 1, 3)).ravel().tolist()
    [2.0, 1.0, 0.0]
    """

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p!r}")
        self.p = float(p)

    def apply(self, batch):
        flip = self.rng.random(batch.shape[0]) < self.p
        out = batch.copy()
        out[flip] = batch[flip][..., ::-1]
        return out

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _pad_batch(batch, pad_h: int, pad_w: int, fill):
    if not pad_h and not pad_w:
        return batch
    n, c, h, w = batch.shape
    padded = xp.full((n, c, h + 2 * pad_h, w + 2 * pad_w), fill, dtype=batch.dtype)
    padded[:, :, pad_h:pad_h + h, pad_w:pad_w + w] = batch
    return padded


def _crop_each(padded, tops, lefts, out_h: int, out_w: int):
    """Cut an ``out_h x out_w`` window at a per-sample offset: one gather for the batch."""
    rows = tops[:, None] + xp.arange(out_h)  # (N, out_h)
    cols = lefts[:, None] + xp.arange(out_w)  # (N, out_w)
    samples = xp.arange(padded.shape[0])[:, None, None]
    moved = padded.transpose(0, 2, 3, 1)  # (N, H, W, C): each gathered pixel a run of C values
    return xp.ascontiguousarray(
        moved[samples, rows[:, :, None], cols[:, None, :]].transpose(0, 3, 1, 2))


class RandomTranslate(Transform):
    """Shift each image by a random whole number of pixels, filling the uncovered border.

    Each sample's shift is drawn uniformly from ``-max_shift .. max_shift`` on each axis.

    Parameters
    ----------
    max_shift : int or (int, int)
        Largest shift in pixels (vertical, horizontal).
    fill : float, default 0
        Value of the pixels shifted in.
    seed : int, optional

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.transforms import RandomTranslate
    >>> RandomTranslate(3, seed=0)(np.ones((4, 28, 28), dtype=np.float32)).shape
    (4, 28, 28)
    """

    def __init__(self, max_shift, fill: float = 0.0, seed: int | None = None):
        super().__init__(seed)
        self.max_shift = int_pair(max_shift, "RandomTranslate: max_shift", minimum=0)
        self.fill = fill

    def apply(self, batch):
        n, _, h, w = batch.shape
        shift_h, shift_w = self.max_shift
        padded = _pad_batch(batch, shift_h, shift_w, self.fill)
        tops = self.rng.integers(0, 2 * shift_h + 1, n)
        lefts = self.rng.integers(0, 2 * shift_w + 1, n)
        return _crop_each(padded, tops, lefts, h, w)

    def extra_repr(self) -> str:
        return f"max_shift={self.max_shift}, fill={self.fill}"


class RandomCrop(Transform):
    """Pad each image, then cut a ``size`` window at a random place (``torchvision``'s).

    ``RandomCrop(28, padding=4)`` on 28x28 images is a random shift of up to 4 pixels.

    Parameters
    ----------
    size : int or (int, int)
        Output height and width.
    padding : int or (int, int), default 0
        Border added on every side first.
    fill : float, default 0
    seed : int, optional

    Raises
    ------
    ValueError
        If the padded image is smaller than ``size``.

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.transforms import RandomCrop
    >>> RandomCrop(24, seed=0)(np.ones((2, 3, 28, 28), dtype=np.float32)).shape
    (2, 3, 24, 24)
    """

    def __init__(self, size, padding=0, fill: float = 0.0, seed: int | None = None):
        super().__init__(seed)
        self.size = int_pair(size, "RandomCrop: size")
        self.padding = int_pair(padding, "RandomCrop: padding", minimum=0)
        self.fill = fill

    def apply(self, batch):
        n, _, h, w = batch.shape
        (pad_h, pad_w), (out_h, out_w) = self.padding, self.size
        room_h, room_w = h + 2 * pad_h - out_h, w + 2 * pad_w - out_w
        if room_h < 0 or room_w < 0:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded image "
                             f"({h + 2 * pad_h}, {w + 2 * pad_w}) of a batch shaped {batch.shape}")
        padded = _pad_batch(batch, pad_h, pad_w, self.fill)
        tops = self.rng.integers(0, room_h + 1, n)
        lefts = self.rng.integers(0, room_w + 1, n)
        return _crop_each(padded, tops, lefts, out_h, out_w)

    def extra_repr(self) -> str:
        return f"size={self.size}, padding={self.padding}, fill={self.fill}"


class RandomRotation(Transform):
    """Rotate each image about its centre by a random angle, with bilinear interpolation.

    The angle is drawn uniformly from ``[-degrees, degrees]``; positive angles turn the image
    counter-clockwise (as ``torchvision``'s). Pixels that come from outside the image get
    ``fill``.

    Parameters
    ----------
    degrees : float
        Largest angle; small angles (up to ~15) are the usual augmentation for digits and clothes.
    fill : float, default 0
    seed : int, optional

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.transforms import RandomRotation
    >>> RandomRotation(10, seed=0)(np.ones((2, 1, 28, 28), dtype=np.float32)).shape
    (2, 1, 28, 28)
    """

    needs_float = True

    def __init__(self, degrees: float, fill: float = 0.0, seed: int | None = None):
        super().__init__(seed)
        if not isinstance(degrees, numbers.Real) or not 0 <= degrees <= 180:
            raise ValueError(f"RandomRotation: degrees must be in [0, 180], got {degrees!r}")
        self.degrees, self.fill = float(degrees), fill

    def apply(self, batch):
        n, _, h, w = batch.shape
        angles = self.rng.uniform(-self.degrees, self.degrees, n) * (math.pi / 180)
        return rotate(batch, angles, self.fill)

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, fill={self.fill}"


def rotate(batch, angles, fill: float = 0.0):
    """Rotate each image of an ``(N, C, H, W)`` batch counter-clockwise by ``angles`` (radians).

    Bilinear interpolation; the source of every output pixel is computed for the whole batch at
    once and gathered from a ``fill``-bordered copy.
    """
    n, _, h, w = batch.shape
    dtype = batch.dtype
    cos = xp.cos(angles).astype(dtype)[:, None, None]
    sin = xp.sin(angles).astype(dtype)[:, None, None]
    y = xp.arange(h, dtype=dtype)[None, :, None] - dtype.type((h - 1) / 2)
    x = xp.arange(w, dtype=dtype)[None, None, :] - dtype.type((w - 1) / 2)
    # inverse map (rows grow downwards): where in the input each output pixel comes from
    source_x = cos * x - sin * y + dtype.type((w - 1) / 2)
    source_y = sin * x + cos * y + dtype.type((h - 1) / 2)
    x0, y0 = xp.floor(source_x), xp.floor(source_y)
    weight_x, weight_y = (source_x - x0)[..., None], (source_y - y0)[..., None]
    # indices into a copy with a one-pixel fill border; anything further out reads the border
    x0, y0 = x0.astype(xp.intp) + 1, y0.astype(xp.intp) + 1
    x0, x1 = xp.clip(x0, 0, w + 1), xp.clip(x0 + 1, 0, w + 1)
    y0, y1 = xp.clip(y0, 0, h + 1), xp.clip(y0 + 1, 0, h + 1)
    moved = _pad_batch(batch, 1, 1, fill).transpose(0, 2, 3, 1)  # (N, H+2, W+2, C)
    samples = xp.arange(n)[:, None, None]
    top = moved[samples, y0, x0] * (1 - weight_x) + moved[samples, y0, x1] * weight_x
    bottom = moved[samples, y1, x0] * (1 - weight_x) + moved[samples, y1, x1] * weight_x
    out = top * (1 - weight_y) + bottom * weight_y
    return xp.ascontiguousarray(out.transpose(0, 3, 1, 2))


class GaussianNoise(Transform):
    """Add independent N(0, std^2) noise to every pixel.

    Parameters
    ----------
    std : float
    seed : int, optional

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.transforms import GaussianNoise
    >>> GaussianNoise(0.1, seed=0)(np.zeros((2, 1, 4, 4), dtype=np.float32)).dtype
    dtype('float32')
    """

    needs_float = True

    def __init__(self, std: float, seed: int | None = None):
        super().__init__(seed)
        if not isinstance(std, numbers.Real) or std < 0:
            raise ValueError(f"GaussianNoise: std must be a non-negative number, got {std!r}")
        self.std = float(std)

    def apply(self, batch):
        noise = self.rng.standard_normal(batch.shape, dtype=batch.dtype)
        noise *= batch.dtype.type(self.std)
        noise += batch
        return noise

    def extra_repr(self) -> str:
        return f"std={self.std}"


