"""What the five LocSpiral protocols share: the form (input map, mask, resolution range,
band width, expert and thread options), reading the Scipion inputs into a run spec,
validation and warnings, the output Volumes, and the common parts of summary and methods.

The computation itself is the run layer's (:mod:`locspiral_em.run`, shared with the command
line). Each protocol only adds its own parameters (``_methodSpec``), names its files under
extra/ (``_outputFiles``), picks the numbers to store (``_storedResults``) and turns the
files into outputs (``_createOutputs``). Defaults come from :mod:`locspiral_em.core.defaults`.
"""
import json
import os

import numpy as np

import pyworkflow as pw
import pyworkflow.object as pwobj
import pyworkflow.protocol.params as params
from pwem.objects import Volume
from pwem.protocols import ProtAnalysis3D

from .. import __version__, core
from .. import run as run_layer
from ..constants import (ATTR_FSC_RES, ATTR_GLOBAL_B, ATTR_GLOBAL_B_MAX_RES,
                         ATTR_GLOBAL_B_MIN_RES, ATTR_MEAN_B, ATTR_SD_B,
                         ATTR_MASK_BOX_FRACTION, ATTR_MASK_THRESHOLD,
                         ATTR_MASK_VOLUME, ATTR_MASK_VOXELS, ATTR_MAX_RES, ATTR_NUM_BANDS,
                         EXTRA_MASK, EXTRA_RESULTS, EXTRA_SUMMARY, SPIRAL_CHOICES,
                         SPIRAL_RIESZ)
from ..core import defaults as D
from ..run import mask_text, result_text, run

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
    "Published values: 4.5 (LocSpiral, LocBSharpen), 4.8 (LocBFactor), 5 (LocOccupancy). "
    "LocBFactor: empty takes the core's default for the estimator (debiased: 0.02 1/Å, "
    "box-size independent; published: 4.8 Fourier pixels).")
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
    "*No* (default): an automatic mask made from the map as Relion's mask creation does: "
    "the map is low-passed to 15 Å, thresholded (automatically: 5 robust noise SDs above "
    "the low-passed solvent in the box corners), the molecule's connected pieces are kept "
    "and the result is dilated. Its volume, box fraction and any warning (very small, "
    "touching the box edge, little solvent left) are logged and shown in the summary; "
    "extra/mask.mrc holds it.\n"
    "*Yes*: use a mask volume on the same grid and voxel size as the map (values > 0.5 are "
    "molecule).")
HELP_MASK_THRESHOLD = (
    "Threshold of the automatic mask, applied to the map low-passed to the mask low-pass "
    "resolution (15 Å). Leave it empty for automatic: 5 robust noise SDs above the "
    "low-passed solvent of the box corners.")
HELP_MASK_LOWPASS = (
    "The automatic mask thresholds the map low-passed to this resolution (Å), so noise "
    "averages out and weak or partly occupied density stands above the solvent (15 Å, as "
    "Relion's default).")
HELP_MASK_DILATION = (
    "The automatic mask is dilated by this distance (Å) after thresholding. Empty: the "
    "core's default.")


def _sentence(text):
    """A core message as a sentence for the Scipion GUI."""
    text = str(text)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class LocSpiralProtBase(ProtAnalysis3D):
    """Base class of the LocSpiral protocols (not offered in the GUI: no _label).

    ``computeStep`` builds a :class:`locspiral_em.run.RunSpec` from the form and the Scipion
    inputs (read here: Scipion file names, stacks, other formats, the sampling rate) and
    calls the run layer, which the command line uses too; it writes the maps, the mask
    used, extra/summary.json (the run's JSON summary) and extra/results.json (the numbers
    stored on the protocol)."""

    _devStatus = pw.BETA          # the GUI marks the protocols as beta
    METHOD = "locspiral"          # key of locspiral_em.core.defaults
    USES_NOISE_THRESHOLD = True   # LocOccupancy and the maturity index use a quantile instead
    INPUT_LABEL = "Input map"
    INPUT_HELP = ("The unsharpened, unmasked map. When it carries half maps (import with "
                  "'Set half maps'), their average is used, as the method expects, and their "
                  "FSC gives the default max resolution.")
    METHOD_NAME = "LocSpiral"
    BW_LABEL = "Band width (Fourier pixels)"

    def __init__(self, **kwargs):
        ProtAnalysis3D.__init__(self, **kwargs)
        for name in (ATTR_MAX_RES, ATTR_FSC_RES, ATTR_MASK_THRESHOLD, ATTR_MASK_VOLUME,
                     ATTR_MASK_BOX_FRACTION):
            setattr(self, name, pwobj.Float())
        setattr(self, ATTR_MASK_VOXELS, pwobj.Integer())
        setattr(self, ATTR_NUM_BANDS, pwobj.Integer())

    @classmethod
    def _defaults(cls):
        return D.defaults(cls.METHOD)

    # ------------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineInputParams(form)
        self._defineMaskParams(form)
        form.addSection(label="Parameters")
        self._defineResolutionParams(form)
        if self.USES_NOISE_THRESHOLD:
            form.addParam("threshold", params.FloatParam, default=D.NOISE_QUANTILE,
                          label="Noise threshold (quantile)", help=HELP_THRESHOLD)
        form.addParam("bw", params.FloatParam, default=self._defaults().bw,
                      allowsNull=self._defaults().bw is None, label=self.BW_LABEL,
                      help=HELP_BW)
        self._defineMethodParams(form)
        form.addParam("spiral", params.EnumParam, choices=SPIRAL_CHOICES,
                      default=SPIRAL_CHOICES.index(D.SPIRAL),
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
        form.addParam("maskLowpass", params.FloatParam, default=D.MASK_LOWPASS,
                      condition="not useMaskVolume", expertLevel=params.LEVEL_ADVANCED,
                      label="Mask low-pass (Å)", help=HELP_MASK_LOWPASS)
        form.addParam("maskDilation", params.FloatParam, allowsNull=True,
                      condition="not useMaskVolume", expertLevel=params.LEVEL_ADVANCED,
                      label="Mask dilation (Å)", help=HELP_MASK_DILATION)

    def _defineResolutionParams(self, form):
        d = self._defaults()
        form.addParam("minRes", params.FloatParam, default=d.min_res,
                      label="Min resolution (Å)",
                      help="Low-resolution end of the sweep (Å). " + HELP_RESOLUTION)
        form.addParam("maxRes", params.FloatParam, default=d.max_res,
                      allowsNull=True, label="Max resolution (Å)",
                      help=self._maxResHelp() + " " + HELP_RESOLUTION)

    def _maxResHelp(self):
        return HELP_MAX_RES

    def _defineMethodParams(self, form):
        """Protocol-specific parameters (normal level)."""

    def _defineExpertParams(self, form):
        """Protocol-specific expert parameters."""

    # ------------------------------------------------------------------ steps
    def _insertAllSteps(self):
        self._insertFunctionStep(self.computeStep, needsGPU=False)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)

    def computeStep(self):
        spec = self._buildSpec()
        result = run(spec, progress=self._progress, log=self.info)
        summary = result.summary
        self.info(mask_text(summary["mask"]))
        for line in summary["warnings"]:
            self.warning(f"WARNING: {line}")
        self.info(result_text(summary))
        stored = self._storedCommon(summary)
        stored.update(self._storedResults(summary))
        with open(self._getExtraPath(EXTRA_RESULTS), "w") as handle:
            json.dump(stored, handle, indent=1)

    def createOutputStep(self):
        results = self.getResults()
        for name in (ATTR_MAX_RES, ATTR_FSC_RES, ATTR_MASK_THRESHOLD, ATTR_MASK_VOXELS,
                     ATTR_NUM_BANDS, ATTR_MASK_VOLUME, ATTR_MASK_BOX_FRACTION):
            attr = getattr(self, name)
            attr.set(results.get(name))
            self._store(attr)
        self._createOutputs(results)

    @staticmethod
    def _storedCommon(summary):
        """The numbers every protocol stores (extra/results.json), from the run summary."""
        res, mask = summary["resolution"], summary["mask"]
        return {ATTR_MAX_RES: res["max_res_A"], ATTR_FSC_RES: res["fsc_res_A"],
                ATTR_MASK_THRESHOLD: mask["threshold"], ATTR_MASK_VOXELS: mask["voxels"],
                ATTR_MASK_VOLUME: mask["volume_A3"],
                ATTR_MASK_BOX_FRACTION: mask["box_fraction"],
                ATTR_NUM_BANDS: res["num_bands"], "warnings": summary["warnings"]}

    def _storedResults(self, summary):
        """Method-specific numbers to keep in extra/results.json."""
        return {}

    def _outputFiles(self):
        """{run-layer output name: file name under extra/}."""
        return {}

    def _createOutputs(self, results):
        raise NotImplementedError

    # ------------------------------------------------------------------ spec
    def _formMaxRes(self):
        """The max resolution given in the form, or None for automatic (empty or <= 0)."""
        value = self.maxRes.get()
        if value is None or value <= 0:
            return None
        return float(value)

    def _methodSpec(self):
        """Method parameters of the spec (RunSpec keyword arguments)."""
        return {}

    def _maskSpec(self, voxelSize):
        if self.useMaskVolume.get():
            maskObj = self.inputMask.get()
            return dict(mask=run_layer.MapSource(self._absPath(maskObj.getFileName()),
                                                 self._readMap(maskObj, voxelSize)))
        dilation = self.maskDilation.get()
        return dict(mask_threshold=self.maskThreshold.get(),
                    mask_lowpass=self.maskLowpass.get() or D.MASK_LOWPASS,
                    mask_dilation=dilation)

    def _buildSpec(self):
        """The run layer's spec from the form and the Scipion inputs."""
        volume = self.inputVolume.get()
        maps = self._volumeSpec(volume, self.INPUT_LABEL.lower())
        paths = {name: self._getExtraPath(fileName)
                 for name, fileName in dict(self._outputFiles(), mask=EXTRA_MASK).items()}
        kwargs = dict(maps, **self._maskSpec(volume.getSamplingRate()))
        kwargs.update(method=self.METHOD, min_res=self.minRes.get(),
                      max_res=self._formMaxRes(), bw=self.bw.get(), spiral=self._spiral(),
                      workers=self._workers(), paths=paths, force=True,
                      json_path=self._getExtraPath(EXTRA_SUMMARY))
        if self.USES_NOISE_THRESHOLD:
            kwargs["noise_quantile"] = self.threshold.get()
        kwargs.update(self._methodSpec())
        return run_layer.RunSpec(**kwargs)

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

    def _halfMaps(self, volume, label):
        """The two half maps of a Scipion Volume as (path, MapData) pairs, or None."""
        if not volume.hasHalfMaps():
            return None
        files = volume.getHalfMaps(asList=True)
        if len(files) < 2:
            raise core.InputError(f"the {label} lists {len(files)} half map(s); two are "
                                  "needed")
        return [(self._absPath(fn), self._readMap(fn, volume.getSamplingRate()))
                for fn in files[:2]]

    def _volumeSpec(self, volume, label):
        """Spec entries for a Scipion Volume: its half maps (averaged by the run layer, their
        FSC the default max resolution) on the map's grid, else the map itself."""
        header = self._readMap(volume)
        halves = self._halfMaps(volume, label)
        if halves is None:
            self.info(f"{label}: no half maps, using the map itself")
            return dict(map=run_layer.MapSource(self._absPath(volume.getFileName()), header))
        self.info(f"{label}: using the average of its half maps")
        return dict(half1=run_layer.MapSource(*halves[0]),
                    half2=run_layer.MapSource(*halves[1]), grid=header)

    def _averagedVolume(self, volume, label):
        """A Scipion Volume as the MapData the methods see: the average of its half maps
        when it has them (on the map's grid), else the map (maturity: immature maps)."""
        header = self._readMap(volume)
        halves = self._halfMaps(volume, label)
        if halves is None:
            return header
        for _, half in halves:
            if half.data.shape != header.data.shape:
                raise core.InputError(f"the {label}'s half map grid {half.data.shape} "
                                      f"differs from the map grid {header.data.shape}")
        data = core.average_half_maps(halves[0][1].data, halves[1][1].data)
        self.info(f"{label}: using the average of its half maps")
        return header._replace(data=data)

    def _workers(self):
        return max(1, int(self.numberOfThreads.get() or 1))

    def _spiral(self):
        return SPIRAL_CHOICES[self.spiral.get()]

    def _progress(self, done, total, message):
        """Progress callback for the core: one log line per band."""
        self.info(f"{message} ({done}/{total})")

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

    # The local-B protocols (LocBFactor, LocSharpen) store and report the same numbers.
    B_RESULT_ATTRS = (ATTR_MEAN_B, ATTR_SD_B, ATTR_GLOBAL_B, ATTR_GLOBAL_B_MIN_RES,
                      ATTR_GLOBAL_B_MAX_RES)

    @staticmethod
    def _bResults(summary):
        """The B numbers of a run summary under their stored names (the global B is the run
        layer's: inside the mask, over the local fit's range)."""
        r = summary["results"]
        low, high = r["global_bfactor_range_A"]
        return {ATTR_MEAN_B: r["bfactor_mean_A2"], ATTR_SD_B: r["bfactor_sd_A2"],
                ATTR_GLOBAL_B: r["global_bfactor_A2"], ATTR_GLOBAL_B_MIN_RES: low,
                ATTR_GLOBAL_B_MAX_RES: high}

    def _storeResultAttrs(self, results, names):
        """Copy the run's numbers into the protocol's stored attributes."""
        for name in names:
            attr = getattr(self, name)
            attr.set(results.get(name))
            self._store(attr)

    def _globalBLine(self, what="Global Guinier B"):
        """The summary line of the global Guinier B over the local fit's range, or None."""
        globalB = getattr(self, ATTR_GLOBAL_B).get()
        if globalB is None:
            return None
        return (f"{what} over {getattr(self, ATTR_GLOBAL_B_MIN_RES).get():g}-"
                f"{getattr(self, ATTR_GLOBAL_B_MAX_RES).get():.2f} Å in the mask "
                f"(the local fit's range): {globalB:.2f} Å^2")

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
        self._validateDensity(errors, volume, label)
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
        bw = self.bw.get()
        if (bw is None and self._defaults().bw is not None) or (bw is not None and bw <= 0):
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

    def _validateDensity(self, errors, volume, label):
        """Refuse a mask (or any map with 2 distinct values) given as a density map."""
        try:
            data = self._readMap(volume).data
        except core.InputError as exc:
            errors.append(f"Cannot read the {label}: {exc}")
            return
        try:
            run_layer.check_density_map(data, label)
        except core.InputError as exc:
            errors.append(_sentence(exc))

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
            maxRes = self._defaults().max_res  # LocOccupancy, maturity: fixed 10 Å
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
                errors.append(_sentence(exc))

    # ------------------------------------------------------------------ warnings
    def _warnings(self):
        """Shown by pyworkflow before the run (the user may go on): the input looks masked
        or already sharpened, or the max resolution is finer than the half-map FSC."""
        try:
            return [_sentence(line) for line in self._inputWarnings()]
        except Exception as exc:  # a warning check must never block or crash the GUI
            return [f"Could not check the inputs for warnings: {exc}"]

    def _inputWarnings(self):
        volume = self.inputVolume.get()
        if volume is None or not volume.getSamplingRate():
            return []
        label = self.INPUT_LABEL.lower()
        header = self._readMap(volume)
        data, fscRes = header.data, None
        halves = self._halfMaps(volume, label)
        if halves is not None and all(h.data.shape == data.shape for _, h in halves):
            data = core.average_half_maps(halves[0][1].data, halves[1][1].data)
            fscRes = core.fsc(halves[0][1].data, halves[1][1].data, header.voxel_size,
                              workers=self._workers()).resolution
        maxRes = self._formMaxRes()
        if maxRes is None:
            maxRes = self._defaults().max_res
        return run_layer.input_warnings(data, header.voxel_size, maxRes, fscRes,
                                        self._workers())

    # ------------------------------------------------------------------ info
    def _citations(self):
        return ["Kaur2021"]

    def _resolutionText(self):
        maxRes = getattr(self, ATTR_MAX_RES).get()
        fsc = getattr(self, ATTR_FSC_RES).get()
        text = f"{self.minRes.get():g} to {maxRes:.2f} Å"
        if self._formMaxRes() is None and self._defaults().max_res is None and fsc is not None:
            text += " (max from the half-map FSC 0.143)"
        return text

    def _maskText(self):
        voxels = getattr(self, ATTR_MASK_VOXELS).get()
        size = f"{voxels} voxels"
        volume = getattr(self, ATTR_MASK_VOLUME).get()
        fraction = getattr(self, ATTR_MASK_BOX_FRACTION).get()
        if volume is not None and fraction is not None:
            size += f", {volume:.4g} Å^3, {100 * fraction:.1f}% of the box"
        if self.useMaskVolume.get():
            return f"mask volume ({size})"
        threshold = getattr(self, ATTR_MASK_THRESHOLD).get()
        how = "automatic " if self.maskThreshold.get() is None else ""
        return (f"{how}threshold {threshold:.4g} on the map low-passed to "
                f"{self.maskLowpass.get():g} Å ({size})")

    def _summary(self):
        if not self.getResults() or getattr(self, ATTR_MAX_RES).get() is None:
            return ["Outputs not ready yet."]
        lines = [f"Resolution range: {self._resolutionText()}",
                 f"Mask: {self._maskText()}"]
        fsc = getattr(self, ATTR_FSC_RES).get()
        if fsc is not None:
            lines.append(f"Half-map FSC 0.143 resolution: {fsc:.2f} Å")
        lines += [f"Warning: {line}" for line in self.getResults().get("warnings", [])]
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
        bw = self.bw.get()
        parts.append(f"Gaussian band width {bw:g} Fourier pixels" if bw is not None else
                     f"the default Gaussian band width ({D.bw_text(self.METHOD)})")
        parts.append("the exact Riesz spiral transform" if self._spiral() == SPIRAL_RIESZ
                     else "the reference implementation's spiral filter")
        return ", ".join(parts)

    def _methods(self):
        if getattr(self, ATTR_MAX_RES).get() is None:
            return ["Outputs not ready yet."]
        mask = ("a binary mask given as input" if self.useMaskVolume.get() else
                f"a binary mask obtained by low-passing the {self.INPUT_LABEL.lower()} to "
                f"{self.maskLowpass.get():g} Å, thresholding it at "
                f"{getattr(self, ATTR_MASK_THRESHOLD).get():.4g}, keeping its connected "
                "molecule and dilating it")
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
