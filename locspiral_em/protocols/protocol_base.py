"""What the five LocSpiral protocols share: the form (input map, mask, resolution range,
band width, expert and thread options), reading the inputs, validation, writing the
output maps and the output Volumes, and the common parts of summary and methods.

Each protocol only adds its own parameters and implements ``_compute`` (call the core,
return the maps and numbers to keep) and ``_createOutputs`` (turn them into outputs).
"""
import json
import os

import numpy as np

import pyworkflow.object as pwobj
import pyworkflow.protocol.params as params
from pwem.objects import Volume
from pwem.protocols import ProtAnalysis3D

from .. import __version__, core
from ..constants import (ATTR_FSC_RES, ATTR_MASK_THRESHOLD, ATTR_MASK_VOXELS, ATTR_MAX_RES,
                         ATTR_NUM_BANDS, EXTRA_MASK, EXTRA_RESULTS, SPIRAL_CHOICES,
                         SPIRAL_RIESZ)

MRC_EXTENSIONS = (".mrc", ".map", ".ccp4", ".mrcs", ".rec", ".st")

HELP_RESOLUTION = (
    "The methods sweep Gaussian band-pass filters from the *min resolution* (low, e.g. 25 Å) "
    "to the *max resolution* (high, the map's global resolution). With a box of N voxels of "
    "size p, a resolution d Å is the Fourier radius k = floor(p*N/d) pixels, so the range "
    "must span at least one Fourier pixel and the max resolution cannot be finer than "
    "Nyquist (2 x voxel size).")
HELP_MAX_RES = (
    "High-resolution end of the sweep (Å), usually the global resolution of the map. "
    "Leave it empty (or -1) to use the half-map FSC = 0.143 resolution, computed from the "
    "unmasked half maps of the input (conservative: no mask inflates the FSC). Required when "
    "the input has no half maps.")
HELP_THRESHOLD = (
    "Noise quantile q (0.9-0.95 typical). Noise voxels are those outside the mask and inside "
    "the sphere inscribed in the box; for each band, the q-quantile of their local amplitude "
    "is the noise level q_i. It enters the SNR weight C_i = m_i/(m_i + q_i) and, in "
    "LocSpiral, the significance test m_i >= q_i.")
HELP_BW = (
    "Width (standard deviation) of the Gaussian band-pass shells, in Fourier pixels. "
    "Published values: 4.5 (LocSpiral, LocBSharpen), 4.8 (LocBFactor), 5 (LocOccupancy).")
HELP_SPIRAL = (
    "*riesz* (default): the exact isotropic spiral (Riesz) transform with three components, "
    "per-axis frequencies (non-cubic boxes are fine) and unit-energy band filters, so the "
    "local amplitude estimates the structure-factor amplitude (no 1/k bias in B-factors).\n"
    "*reference*: reproduce the authors' MATLAB code, quirks included (single 'economy' "
    "complex spiral filter, filters evaluated one pixel off DC for even boxes, unit-sum "
    "filters, MATLAB noise sphere). Use it only to reproduce published numbers; cubic boxes "
    "only.")
HELP_MASK = (
    "Binary macromolecule mask (1 = molecule). It separates the molecule from the solvent, "
    "whose voxels inside the box sphere give the noise statistics, so it must leave solvent "
    "around the molecule.\n"
    "*No* (default): the mask is made from the map by thresholding it and removing connected "
    "objects (6-connectivity) smaller than a few voxels, as the reference code does.\n"
    "*Yes*: use a mask volume on the same grid and voxel size as the map (values > 0.5 are "
    "molecule).")
HELP_MASK_THRESHOLD = (
    "Density threshold of the automatic mask. Leave it empty for automatic: 3 standard "
    "deviations above the mean of the box corners (the solvent outside the inscribed sphere).")


class LocSpiralProtBase(ProtAnalysis3D):
    """Base class of the LocSpiral protocols (not offered in the GUI: no _label)."""

    # Per-protocol defaults; subclasses override.
    MIN_RES_DEFAULT = 25.0
    MAX_RES_DEFAULT = None        # None: half-map FSC 0.143
    BW_DEFAULT = 4.5
    THRESHOLD_DEFAULT = 0.9
    USES_NOISE_THRESHOLD = True   # LocOccupancy and the maturity index use a quantile instead
    INPUT_LABEL = "Input map"
    INPUT_HELP = ("The unsharpened, unmasked map. When it carries half maps (import with "
                  "'Set half maps'), their average is used, as the method expects, and their "
                  "FSC gives the default max resolution.")
    METHOD_NAME = "LocSpiral"

    def __init__(self, **kwargs):
        ProtAnalysis3D.__init__(self, **kwargs)
        setattr(self, ATTR_MAX_RES, pwobj.Float())
        setattr(self, ATTR_FSC_RES, pwobj.Float())
        setattr(self, ATTR_MASK_THRESHOLD, pwobj.Float())
        setattr(self, ATTR_MASK_VOXELS, pwobj.Integer())
        setattr(self, ATTR_NUM_BANDS, pwobj.Integer())

    # ------------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineInputParams(form)
        self._defineMaskParams(form)
        form.addSection(label="Parameters")
        self._defineResolutionParams(form)
        if self.USES_NOISE_THRESHOLD:
            form.addParam("threshold", params.FloatParam, default=self.THRESHOLD_DEFAULT,
                          label="Noise threshold (quantile)", help=HELP_THRESHOLD)
        form.addParam("bw", params.FloatParam, default=self.BW_DEFAULT,
                      label="Band width (Fourier pixels)", help=HELP_BW)
        self._defineMethodParams(form)
        form.addParam("spiral", params.EnumParam, choices=SPIRAL_CHOICES, default=0,
                      display=params.EnumParam.DISPLAY_HLIST,
                      expertLevel=params.LEVEL_ADVANCED, label="Spiral transform",
                      help=HELP_SPIRAL)
        self._defineExpertParams(form)
        form.addParallelSection(threads=4, mpi=0)

    def _defineInputParams(self, form):
        form.addParam("inputVolume", params.PointerParam, pointerClass="Volume",
                      important=True, label=self.INPUT_LABEL, help=self.INPUT_HELP)

    def _defineMaskParams(self, form):
        form.addParam("useMaskVolume", params.BooleanParam, default=False,
                      label="Use a mask volume?", help=HELP_MASK)
        form.addParam("inputMask", params.PointerParam, pointerClass="VolumeMask",
                      condition="useMaskVolume", label="Mask",
                      help="Binary mask on the map's grid (values > 0.5 = molecule).")
        form.addParam("maskThreshold", params.FloatParam, allowsNull=True,
                      condition="not useMaskVolume", label="Mask threshold",
                      help=HELP_MASK_THRESHOLD)
        form.addParam("maskMinVoxels", params.IntParam, default=25,
                      condition="not useMaskVolume", expertLevel=params.LEVEL_ADVANCED,
                      label="Remove objects smaller than (voxels)",
                      help="Connected objects above the threshold with fewer voxels than "
                           "this are noise specks and leave the mask (25 in the reference).")

    def _defineResolutionParams(self, form):
        form.addParam("minRes", params.FloatParam, default=self.MIN_RES_DEFAULT,
                      label="Min resolution (Å)",
                      help="Low-resolution end of the sweep (Å). " + HELP_RESOLUTION)
        form.addParam("maxRes", params.FloatParam, default=self.MAX_RES_DEFAULT,
                      allowsNull=True, label="Max resolution (Å)",
                      help=HELP_MAX_RES + " " + HELP_RESOLUTION)

    def _defineMethodParams(self, form):
        """Protocol-specific parameters (normal level)."""

    def _defineExpertParams(self, form):
        """Protocol-specific expert parameters."""

    # ------------------------------------------------------------------ steps
    def _insertAllSteps(self):
        self._insertFunctionStep(self.computeStep, needsGPU=False)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)

    def computeStep(self):
        self._numBands = None
        inputs = self._loadInputs()
        maps, stats, mask = self._compute(inputs)
        mask = inputs["mask"] if mask is None else mask
        items = [(self._getExtraPath(name), data) for name, data in maps]
        items.append((self._getExtraPath(EXTRA_MASK), mask.astype(np.float32)))
        core.write_maps(items, inputs["voxelSize"], inputs["origin"], inputs["nstart"])
        results = {
            ATTR_MAX_RES: inputs["maxRes"],
            ATTR_FSC_RES: inputs["fscResolution"],
            ATTR_MASK_THRESHOLD: inputs["maskThreshold"],
            ATTR_MASK_VOXELS: int(np.count_nonzero(mask)),
            ATTR_NUM_BANDS: self._numBands,
        }
        results.update(stats)
        with open(self._getExtraPath(EXTRA_RESULTS), "w") as handle:
            json.dump(results, handle, indent=1)

    def createOutputStep(self):
        results = self.getResults()
        for name in (ATTR_MAX_RES, ATTR_FSC_RES, ATTR_MASK_THRESHOLD, ATTR_MASK_VOXELS,
                     ATTR_NUM_BANDS):
            attr = getattr(self, name)
            attr.set(results.get(name))
            self._store(attr)
        self._createOutputs(results)

    def _compute(self, inputs):
        """Run the method. Returns ``(maps, stats, mask)``: ``maps`` a list of
        (file name under extra, array), ``stats`` a JSON-able dict kept in results.json,
        ``mask`` the mask to save as extra/mask.mrc (None: the input mask)."""
        raise NotImplementedError

    def _createOutputs(self, results):
        raise NotImplementedError

    # ------------------------------------------------------------------ inputs
    def _absPath(self, fileName):
        """A file name as stored in Scipion (relative to the project, maybe with a
        ':mrc' format suffix) as a path that opens from here."""
        path = fileName
        base, sep, suffix = path.rpartition(":")
        if sep and suffix and "/" not in suffix and len(suffix) <= 5:
            path = base
        if not os.path.isabs(path) and not os.path.exists(path):
            try:
                candidate = self.getProject().getPath(path)
            except Exception:
                candidate = None
            if candidate and os.path.exists(candidate):
                path = candidate
        return path

    def _readMap(self, image, voxelSize=None, location=None):
        """Read a Scipion image (or a file name) as ``core.MapData``; the voxel size is the
        Scipion sampling rate. MRC is read directly (header origin kept); other formats,
        and volumes inside stacks, through pwem's ImageHandler."""
        if isinstance(image, str):
            fileName, index = image, None
        else:
            fileName, index = image.getFileName(), image.getIndex()
            voxelSize = voxelSize or image.getSamplingRate()
        path = self._absPath(fileName)
        if path.lower().endswith(MRC_EXTENSIONS) and (not index or index == 1):
            try:
                return core.read_map(path, voxel_size=voxelSize)
            except core.InputError:
                if not index:
                    raise  # index 1 may be the first volume of a stack: read it below
        if not os.path.exists(path):
            raise core.InputError(f"map file not found: {path}")
        from pwem.emlib.image import ImageHandler
        img = ImageHandler().read((index or 1, path) if index else path)
        data = np.asarray(img.getData(), dtype=np.float32)
        return core.MapData(data, float(voxelSize))

    def _loadVolume(self, volume, label, withFsc=True):
        """The map to analyse for a Scipion Volume: the average of its half maps when it
        has them (and, if ``withFsc``, their FSC 0.143 resolution), else the map itself.
        Returns (array, MapData of the map file, FSC resolution or None)."""
        header = self._readMap(volume)
        fscResolution = None
        data = header.data
        if volume.hasHalfMaps():
            halves = [self._readMap(fn, volume.getSamplingRate())
                      for fn in volume.getHalfMaps(asList=True)[:2]]
            if len(halves) != 2:
                raise core.InputError(f"the {label} lists {len(halves)} half map(s); "
                                      "two are needed")
            for half in halves:
                if half.data.shape != data.shape:
                    raise core.InputError(f"the {label}'s half map grid {half.data.shape} "
                                          f"differs from the map grid {data.shape}")
            data = core.average_half_maps(halves[0].data, halves[1].data)
            message = f"{label}: using the average of its half maps"
            if withFsc:
                fscResolution = core.fsc(halves[0].data, halves[1].data, header.voxel_size,
                                         workers=self._workers()).resolution
                message += f"; half-map FSC 0.143 resolution {fscResolution:.2f} Å"
            self.info(message)
        else:
            self.info(f"{label}: no half maps, using the map itself")
        return data, header, fscResolution

    def _makeMask(self, volume, voxelSize):
        """The binary mask (and the threshold used, None for a mask volume)."""
        if self.useMaskVolume.get():
            maskObj = self.inputMask.get()
            array = self._readMap(maskObj, voxelSize).data
            self.info(f"Mask: {maskObj.getFileName()} (values > 0.5)")
            return core.validate.as_mask(array, volume.shape), None
        threshold = self.maskThreshold.get()
        if threshold is None:
            threshold = core.auto_threshold(volume)
            self.info(f"Mask: automatic threshold {threshold:.4g} (3 SD above the solvent)")
        else:
            self.info(f"Mask: threshold {threshold:.4g}")
        mask = core.threshold_mask(volume, threshold, self.maskMinVoxels.get())
        return mask, float(threshold)

    def _formMaxRes(self):
        """The max resolution given in the form, or None for automatic (empty or <= 0)."""
        value = self.maxRes.get()
        if value is None or value <= 0:
            return None
        return float(value)

    def _loadInputs(self):
        volume = self.inputVolume.get()
        data, header, fscResolution = self._loadVolume(volume, self.INPUT_LABEL.lower())
        mask, threshold = self._makeMask(data, header.voxel_size)
        maxRes = self._formMaxRes()
        if maxRes is None:
            if fscResolution is None:
                raise core.InputError("no max resolution given and the input has no half "
                                      "maps to estimate it from")
            maxRes = fscResolution
            self.info(f"Max resolution: {maxRes:.2f} Å from the half-map FSC")
        self.info(f"Resolution range {self.minRes.get():g} - {maxRes:.3g} Å; "
                  f"{int(mask.sum())} voxels in the mask")
        return dict(volume=data, mask=mask, voxelSize=header.voxel_size,
                    origin=header.origin, nstart=header.nstart, minRes=self.minRes.get(),
                    maxRes=maxRes, fscResolution=fscResolution, maskThreshold=threshold)

    def _workers(self):
        return max(1, int(self.numberOfThreads.get() or 1))

    def _spiral(self):
        return SPIRAL_CHOICES[self.spiral.get()]

    def _progress(self, done, total, message):
        """Progress callback for the core: one log line per band."""
        self._numBands = total
        self.info(f"{message} ({done}/{total})")

    def _coreArgs(self, inputs):
        """Keyword arguments every core method takes."""
        return dict(voxel_size=inputs["voxelSize"], min_res=inputs["minRes"],
                    max_res=inputs["maxRes"], spiral=self._spiral(),
                    workers=self._workers(), progress=self._progress)

    # ------------------------------------------------------------------ outputs
    def getResults(self):
        """The numbers saved by the run (extra/results.json), or {} before it ends."""
        path = self._getExtraPath(EXTRA_RESULTS)
        if not os.path.exists(path):
            path = self._absPath(path)
        if not os.path.exists(path):
            return {}
        with open(path) as handle:
            return json.load(handle)

    def _newVolume(self, fileName, like, cls=Volume):
        """An output Volume on ``like``'s grid: same sampling rate and origin."""
        volume = cls()
        volume.setFileName(fileName)
        volume.setSamplingRate(like.getSamplingRate())
        volume.setOrigin(like.getOrigin(force=True).clone())
        return volume

    def _defineVolumeOutputs(self, names):
        """Define one output Volume per (output name, file under extra), linked to the
        input map."""
        source = self.inputVolume.get()
        outputs = {name: self._newVolume(self._getExtraPath(fileName), source)
                   for name, fileName in names}
        self._defineOutputs(**outputs)
        for output in outputs.values():
            self._defineSourceRelation(self.inputVolume, output)

    # ------------------------------------------------------------------ validation
    def _validate(self):
        errors = []
        try:
            self._validateInputs(errors)
        except Exception as exc:  # keep validation readable, never a traceback
            errors.append(f"Could not check the inputs: {exc}")
        return errors

    @staticmethod
    def _gridText(dims):
        return " x ".join(str(int(n)) for n in dims)

    def _checkSameGrid(self, errors, obj, label, refDims, refSampling, refLabel):
        """Grid and voxel size of ``obj`` against the reference map; True if both match."""
        dims = obj.getDim()
        if dims is None:
            errors.append(f"Cannot read the {label} file {obj.getFileName()}.")
            return False
        ok = True
        if tuple(dims) != tuple(refDims):
            errors.append(f"The {label} grid ({self._gridText(dims)} voxels) differs from the "
                          f"{refLabel} grid ({self._gridText(refDims)} voxels): resample it "
                          f"onto the {refLabel}'s grid first.")
            ok = False
        sampling = obj.getSamplingRate()
        if sampling is None or abs(sampling - refSampling) > 1e-3 * refSampling:
            errors.append(f"The {label} voxel size ({sampling} Å) differs from the "
                          f"{refLabel} voxel size ({refSampling:g} Å): both must be on the "
                          "same grid.")
            ok = False
        return ok

    def _validateInputs(self, errors):
        volume = self.inputVolume.get()
        if volume is None:
            return  # pyworkflow already reports the empty input
        label = self.INPUT_LABEL.lower()
        sampling = volume.getSamplingRate()
        dims = volume.getDim()
        if not sampling or sampling <= 0:
            errors.append(f"The {label} has no voxel size (sampling rate).")
            return
        if dims is None:
            errors.append(f"Cannot read the {label} file {volume.getFileName()}.")
            return
        if volume.hasHalfMaps():
            self._validateHalfMaps(errors, volume, label, dims)
        self._validateMoreVolumes(errors, dims, sampling)
        if self.useMaskVolume.get():
            self._validateMask(errors, dims, sampling)
        self._validateResolution(errors, sampling, dims, volume.hasHalfMaps())
        if self._spiral() != SPIRAL_RIESZ and len(set(dims)) != 1:
            errors.append(f"The 'reference' spiral transform reproduces the original code, "
                          f"which assumes a cubic box; this map is {self._gridText(dims)}. "
                          "Use the 'riesz' transform.")
        if self.USES_NOISE_THRESHOLD:
            threshold = self.threshold.get()
            if threshold is None or not 0.0 < threshold < 1.0:
                errors.append(f"The noise threshold is a quantile and must be between 0 and "
                              f"1 (0.9-0.95 typical), not {threshold}.")
        if self.bw.get() is None or self.bw.get() <= 0:
            errors.append(f"The band width must be positive (Fourier pixels), not "
                          f"{self.bw.get()}.")
        if self.numberOfThreads.get() is None or self.numberOfThreads.get() < 1:
            errors.append("Use at least 1 thread.")
        self._validateMethod(errors)

    def _validateHalfMaps(self, errors, volume, label, dims):
        from pwem.emlib.image import ImageHandler
        halves = volume.getHalfMaps(asList=True)
        if len(halves) != 2:
            errors.append(f"The {label} lists {len(halves)} half map(s); two are needed.")
        for fn in halves[:2]:
            path = self._absPath(fn)
            if not os.path.exists(path):
                errors.append(f"The half map {fn} of the {label} does not exist.")
                continue
            x, y, z, n = ImageHandler().getDimensions(path)
            halfDims = (x, y, z if z > 1 else n)
            if tuple(halfDims) != tuple(dims):
                errors.append(f"The half map {fn} grid ({self._gridText(halfDims)} voxels) "
                              f"differs from the {label} grid ({self._gridText(dims)} "
                              "voxels).")

    def _validateMoreVolumes(self, errors, dims, sampling):
        """Other input maps (maturity index) against the main one."""

    def _validateMethod(self, errors):
        """Protocol-specific checks."""

    def _validateMask(self, errors, dims, sampling):
        maskObj = self.inputMask.get()
        if maskObj is None:
            return  # reported by pyworkflow ('cannot be EMPTY')
        if not self._checkSameGrid(errors, maskObj, "mask", dims, sampling,
                                   self.INPUT_LABEL.lower()):
            return
        try:
            array = self._readMap(maskObj, sampling).data
        except core.InputError as exc:
            errors.append(f"Cannot read the mask: {exc}")
            return
        inside = int(np.count_nonzero(array > 0.5))
        if inside == 0:
            errors.append("The mask is empty (no voxel above 0.5): check the mask file, "
                          "or use the automatic mask.")
        elif inside == array.size:
            errors.append("The mask covers the whole box (every voxel above 0.5), so no "
                          "solvent is left to estimate the noise from: use a tighter mask.")

    def _validateResolution(self, errors, sampling, dims, hasHalfMaps):
        minRes = self.minRes.get()
        maxRes = self._formMaxRes()
        nyquist = 2.0 * sampling
        before = len(errors)
        if minRes is None or minRes <= 0:
            errors.append("The min resolution must be a positive number of Å.")
            return
        if maxRes is None:
            if not hasHalfMaps:
                errors.append("The max resolution is empty and the input map has no half "
                              "maps to estimate it from (FSC 0.143): give the map's global "
                              "resolution in Å, or import the map with its half maps.")
            elif minRes <= nyquist:
                errors.append(f"The min resolution {minRes:g} Å must be coarser than "
                              f"Nyquist ({nyquist:g} Å).")
            return
        if maxRes < nyquist - 1e-6:
            errors.append(f"The max resolution {maxRes:g} Å is beyond Nyquist "
                          f"({nyquist:g} Å = 2 x voxel size {sampling:g} Å): use a value "
                          f">= {nyquist:g} Å.")
        if minRes <= maxRes:
            errors.append(f"The min resolution {minRes:g} Å must be coarser (a larger "
                          f"number) than the max resolution {maxRes:g} Å.")
        if len(errors) == before:  # ordered and within Nyquist: does it span a pixel?
            try:
                from ..core.validate import check_resolutions
                check_resolutions(sampling, minRes, maxRes, tuple(dims)[::-1])
            except core.InputError as exc:
                errors.append(str(exc)[0].upper() + str(exc)[1:] + ".")

    # ------------------------------------------------------------------ info
    def _citations(self):
        return ["Kaur2021"]

    def _resolutionText(self):
        maxRes = getattr(self, ATTR_MAX_RES).get()
        fsc = getattr(self, ATTR_FSC_RES).get()
        text = f"{self.minRes.get():g} to {maxRes:.2f} Å"
        if self._formMaxRes() is None and fsc is not None:
            text += " (max from the half-map FSC 0.143)"
        return text

    def _maskText(self):
        voxels = getattr(self, ATTR_MASK_VOXELS).get()
        if self.useMaskVolume.get():
            return f"mask volume ({voxels} voxels)"
        threshold = getattr(self, ATTR_MASK_THRESHOLD).get()
        how = "automatic " if self.maskThreshold.get() is None else ""
        return f"{how}threshold {threshold:.4g} ({voxels} voxels)"

    def _summary(self):
        if not self.getResults() or getattr(self, ATTR_MAX_RES).get() is None:
            return ["Outputs not ready yet."]
        lines = [f"Resolution range: {self._resolutionText()}",
                 f"Mask: {self._maskText()}"]
        fsc = getattr(self, ATTR_FSC_RES).get()
        if fsc is not None:
            lines.append(f"Half-map FSC 0.143 resolution: {fsc:.2f} Å")
        return lines + self._summaryMethod()

    def _summaryMethod(self):
        return []

    def _methodsSettings(self):
        """The common settings, as a clause for the methods sentence."""
        maxRes = getattr(self, ATTR_MAX_RES).get()
        parts = [f"{getattr(self, ATTR_NUM_BANDS).get()} frequency bands from "
                 f"{self.minRes.get():g} to {maxRes:.2f} Å"]
        if self.USES_NOISE_THRESHOLD:
            parts.append(f"noise quantile {self.threshold.get():g}")
        parts.append(f"Gaussian band width {self.bw.get():g} Fourier pixels")
        parts.append("the exact Riesz spiral transform" if self._spiral() == SPIRAL_RIESZ
                     else "the reference implementation's spiral filter")
        return ", ".join(parts)

    def _methods(self):
        if getattr(self, ATTR_MAX_RES).get() is None:
            return ["Outputs not ready yet."]
        mask = ("a binary mask given as input" if self.useMaskVolume.get() else
                f"a binary mask obtained by thresholding the {self.INPUT_LABEL.lower()} at "
                f"{getattr(self, ATTR_MASK_THRESHOLD).get():.4g} and removing objects "
                f"smaller than {self.maskMinVoxels.get()} voxels")
        text = (f"{self._methodsSentence()} (Kaur et al. 2021), as implemented in "
                f"scipion-em-locspiral {__version__}, using {self._methodsSettings()}, "
                f"and {mask}.")
        extra = self._methodsResults()
        return [text + (" " + extra if extra else "")]

    def _methodsSentence(self):
        return f"The map was analysed with {self.METHOD_NAME}"

    def _methodsResults(self):
        """Sentences with the run's results, appended to the methods text."""
        return ""
