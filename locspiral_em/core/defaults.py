"""One default per method and parameter, used by the core signatures, the command line, the
Scipion protocols and the docs, so that the same call gives the same answer everywhere.

Resolutions in Å, band widths in Fourier pixels. ``max_res=None`` means "the half-map FSC
0.143 resolution" (and is then required when there are no half maps). LocOccupancy and the
maturity index stop at 10 Å whatever the FSC says: they measure secondary-structure
occupancy over the published 25-10 Å range, and a sweep to 3 Å would be dominated by
side-chain detail and noise, so a half-occupied domain would no longer stand out
(Kaur et al. 2021, EMD-10418: LocOccupancy 25-10 Å).
"""
from typing import NamedTuple, Optional

METHODS = ("locspiral", "locbsharpen", "locsharpen", "locbfactor", "lococcupancy",
           "maturity")

FSC_THRESHOLD = 0.143        # max resolution from the half maps
NOISE_QUANTILE = 0.9         # q of the solvent amplitude (LocSpiral, LocBSharpen, LocBFactor)
OCCUPANCY_QUANTILE = 0.25    # LocOccupancy, maturity index
OCCUPIED_LEVEL = 0.75        # maturity index: occupancy counted as "highly occupied"
NUM_POINTS = 10              # LocBFactor bands in the local Guinier fit
SHARPEN_RES = 15.0           # LocBSharpen: local amplitude measured here is imposed above it
AMPLITUDE_AT = "intercept"   # LocBFactor A map: at 1/d^2 = 0 (as the reference code)
SPIRAL = "riesz"             # exact isotropic spiral transform
SNR_WEIGHT = True            # LocSpiral: weigh bands by C = m/(m + q)
FILTERED_FIT = False         # LocBFactor: fit every band (the reference)
# LocBFactor (debiased): FWHM of the fit's spatial window, Å. 12 Å recovers 62 % of a B step
# between 17 Å slabs and 80 % between 30 Å ones (the 0.02 Å^-1 band of issue 10, a 21 Å
# window: 43 % and 72 %) with isolated-domain errors within 10 % (benchmarks/locality.md).
BFACTOR_WINDOW = 12.0
# LocSharpen (core.sharpen.locsharpen; the same values as its signature).
TARGET_B = 0.0               # Å^2: B the local Guinier curves are brought to (0: flat)
SHARPEN_SMOOTH = 3.0         # Å: SD of the Gaussian average of the local B before use
BFACTOR_MIN_RES = 15.0       # Å: low end of LocSharpen's local B fit (Guinier regime)
SHARPEN_FILTERED = True      # LocSharpen's local B fit: only bands above the noise

# Automatic mask (Relion-style: low-pass, threshold, connected objects, dilation).
MASK_LOWPASS = 15.0          # Å
MASK_DILATION = 3.0          # Å


# Global Guinier B beside the local mean: over the same range as LocBFactor's fit
# (min_res..max_res), inside the mask.


class MethodDefaults(NamedTuple):
    """``min_res`` / ``max_res`` Å (``max_res`` None: half-map FSC 0.143, required without
    half maps), ``bw`` Fourier pixels (None: the core function's own default, which depends
    on other options: LocBFactor's debiased estimator takes 0.02 Å^-1, the published one
    4.8 Fourier pixels), ``label`` for messages."""
    min_res: float
    max_res: Optional[float]
    bw: Optional[float]
    label: str


DEFAULTS = {
    "locspiral": MethodDefaults(25.0, None, 4.5, "LocSpiral"),
    "locbsharpen": MethodDefaults(25.0, None, 4.5, "LocBSharpen"),
    "locsharpen": MethodDefaults(25.0, None, 4.5, "LocSharpen"),
    "locbfactor": MethodDefaults(15.0, None, None, "LocBFactor"),
    "lococcupancy": MethodDefaults(25.0, 10.0, 5.0, "LocOccupancy"),
    "maturity": MethodDefaults(25.0, 10.0, 5.0, "maturity index"),
}


def defaults(method):
    """The :class:`MethodDefaults` of ``method`` (one of :data:`METHODS`)."""
    try:
        return DEFAULTS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}") from None


def bw_text(method):
    """The default band width, for help texts."""
    value = defaults(method).bw
    if value is None:
        return ("the core's: 0.02 Å^-1 for the debiased estimator, 4.8 Fourier pixels for "
                "the published one")
    return f"{value:g} Fourier pixels"


def max_res_text(method):
    """How the default max resolution is chosen, for help texts."""
    value = defaults(method).max_res
    if value is None:
        return ("the half-map FSC 0.143 resolution (required when no half maps are given)")
    return (f"{value:g} Å, whatever the half-map FSC (the published 25-10 Å range of "
            "secondary-structure occupancy)")
