"""Scale invariance: every public method gives the same answer for a map times any factor.

Maps come in any intensity unit: Relion's are around 0.01, some CCP4 files hold 1e4, and a
map times 1e30 squares to infinity in float32 (band powers overflow: NaN maps) while one times
1e-30 squares to 0 (powers underflow: B and resolutions from rounding). :func:`scale_free`
wraps a core function so that a map whose RMS lies outside 2^-16 to 2^16 (``SAFE_EXPONENT``)
runs divided by a power of two close to its RMS, and puts the scale back on what scales with
the map (sharpened maps, thresholds, log amplitudes). Powers of two are exact in binary
floating point, so the division adds no rounding, and a map inside the range (every map in
ordinary units) runs unchanged, with no copy.
"""
import functools
import inspect
from typing import NamedTuple

import numpy as np

LN2 = float(np.log(2.0))
SLAB = 1 << 22  # voxels per float64 block of the RMS: bounded temporary memory
# Maps with an RMS between 2^-16 and 2^16 run as they are: the methods' highest powers (a
# band power squared, summed over up to 2^30 voxels) stay far inside float32's range of
# 2^-126 to 2^128 there (2^64 x 2^30 at the top, 2^-64 at the bottom), and float32 keeps
# its 24-bit precision. Measured on a 32^3 phantom (RMS 0.017) times 1e6 as it is: local B
# within 7e-4 Å^2 of the original. Outside the range, 1e30 gives NaN band powers and 1e-30
# B-factors off by 170 Å^2.
SAFE_EXPONENT = 16


class Scale(NamedTuple):
    """The map was divided by ``2 ** exponent``; ``log`` is ln of that factor (what a log
    amplitude of the map shifts by)."""
    exponent: int

    @property
    def log(self):
        return self.exponent * LN2

    def down(self, array):
        """``array / 2**exponent`` in its own float type (float64 stays float64, so that
        values beyond float32's range come back into it)."""
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        return np.ldexp(array, -self.exponent) if self.exponent else array

    def up(self, array):
        """``array * 2**exponent`` (a float32 map stays float32)."""
        return np.ldexp(array, self.exponent) if self.exponent else array


def rms(volume):
    """Root mean square of ``volume`` in float64, in blocks (no float64 copy of the map);
    NaN for an empty or non-numeric array, inf or NaN when values are not finite."""
    flat = np.asarray(volume).reshape(-1)
    if flat.size == 0 or not np.issubdtype(flat.dtype, np.number):
        return float("nan")
    total = 0.0
    for start in range(0, flat.size, SLAB):
        block = flat[start:start + SLAB].astype(np.float64)
        total += float(np.dot(block, block))
    return float(np.sqrt(total / flat.size))


def rms_difference(a, b):
    """RMS of ``a - b`` in float64, in blocks (no float64 copy of the maps)."""
    fa, fb = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    total = 0.0
    for start in range(0, fa.size, SLAB):
        block = fa[start:start + SLAB].astype(np.float64)
        block -= fb[start:start + SLAB]
        total += float(np.dot(block, block))
    return float(np.sqrt(total / max(fa.size, 1)))


def scale_of(volume):
    """The power of two nearest the map's RMS, as a :class:`Scale`; exponent 0 (no change)
    for a map that is all zero, has NaN or Inf (the checks refuse those with their own
    message) or is not a numeric array."""
    try:
        r = rms(volume)
    except (TypeError, ValueError):
        return Scale(0)
    if not np.isfinite(r) or r <= 0:
        return Scale(0)
    exponent = int(np.round(np.log2(r)))
    return Scale(exponent if abs(exponent) > SAFE_EXPONENT else 0)


def scale_free(arrays=("volume",), array_lists=(), linear_args=(), log_args=(),
               restore=None):
    """Decorator: run the function on maps divided by their common scale.

    ``arrays``: argument names of maps (the first given one sets the scale, so maps that
    must keep their ratio, such as the two half maps or a mature and its immature maps,
    are divided by the same factor); ``array_lists``: arguments holding several maps;
    ``linear_args``: numbers in the map's units (a threshold), divided too; ``log_args``:
    log amplitudes, shifted by ``-ln(scale)``. ``restore(result, scale)`` puts the scale
    back on the result (None: the result is scale-free).
    """
    def wrap(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def scaled(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return function(*args, **kwargs)  # the function's own error
            given = bound.arguments
            reference = next((given[n] for n in arrays if given.get(n) is not None), None)
            if reference is None:
                lists = [given[n] for n in array_lists if given.get(n) is not None]
                reference = next((_first(v) for v in lists if _first(v) is not None), None)
            if reference is None:
                return function(*args, **kwargs)
            scale = scale_of(reference)
            if scale.exponent == 0:
                return function(*args, **kwargs)
            for name in arrays:
                if given.get(name) is not None:
                    given[name] = scale.down(given[name])
            for name in array_lists:
                value = given.get(name)
                if value is None:
                    continue
                if isinstance(value, np.ndarray) and value.ndim == 3:
                    given[name] = scale.down(value)
                else:
                    given[name] = type(value)(scale.down(v) for v in value) \
                        if isinstance(value, tuple) else [scale.down(v) for v in value]
            for name in linear_args:
                value = given.get(name)
                if value is None:
                    continue
                if _is_number(value):
                    given[name] = float(value) / 2.0 ** scale.exponent
                else:  # per-band levels
                    given[name] = np.asarray(value, np.float64) / 2.0 ** scale.exponent
            for name in log_args:
                if given.get(name) is not None:
                    given[name] = np.asarray(given[name], np.float32) - np.float32(scale.log)
            result = function(*bound.args, **bound.kwargs)
            return restore(result, scale) if restore is not None else result

        scaled.__wrapped__ = function
        return scaled
    return wrap


def _first(value):
    if isinstance(value, np.ndarray):
        return value if value.ndim == 3 else (value[0] if len(value) else None)
    try:
        return next(iter(value), None)
    except TypeError:
        return None


def _is_number(value):
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


# -- what scales with the map, per result type ------------------------------------------
def linear_fields(*names):
    """Restore: multiply these fields of a NamedTuple result by the scale."""
    def restore(result, scale):
        return result._replace(**{n: _up(getattr(result, n), scale) for n in names
                                  if getattr(result, n) is not None})
    return restore


def linear_result(result, scale):
    """Restore a result that is itself in the map's units (a threshold, band levels)."""
    return _up(result, scale)


def log_fields(*names, where="mask"):
    """Restore: shift log-amplitude fields by ln(scale); array fields only where the
    result's ``where`` mask is set (they are 0 outside it by convention)."""
    def restore(result, scale):
        inside = getattr(result, where, None) if where else None
        changes = {}
        for n in names:
            value = getattr(result, n)
            if value is None:
                continue
            if not isinstance(value, np.ndarray):
                changes[n] = float(value) + scale.log
                continue
            shift = value.dtype.type(scale.log) if value.dtype.kind == "f" else scale.log
            if inside is not None and value.shape == np.shape(inside):
                value = np.where(inside, value + shift, value).astype(value.dtype)
            else:
                value = value + shift
            changes[n] = value
        return result._replace(**changes)
    return restore


def each(restore):
    """Restore every item of a list result (the maturity index: one per immature map)."""
    return lambda results, scale: [restore(r, scale) for r in results]


def _up(value, scale):
    if isinstance(value, np.ndarray):
        return scale.up(value)
    if isinstance(value, (float, int, np.floating)):
        return float(value) * 2.0 ** scale.exponent
    return value
