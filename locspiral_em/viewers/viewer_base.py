"""What the LocSpiral viewers share: reading a run's maps, default levels and colour ranges,
and turning the files they make (ChimeraX scripts, PNG figures) into Scipion views.

Each viewer separates *making files* (``make*`` methods: write under the run's extra/
folder and return the path; no GUI, callable from tests) from *showing them* (``_show*``
methods: wrap the paths into views for Scipion's form).
"""
import os

import pyworkflow.protocol.params as params
import pyworkflow.viewer as pwviewer

from .. import core
from ..constants import ATTR_MASK_THRESHOLD, EXTRA_MASK
from .. import chimerax as cx


# -- views --------------------------------------------------------------------------------
class ImageFileView(pwviewer.View):
    """A PNG file shown in a matplotlib window (pwem's ImageView does nothing on the
    desktop). ``getImagePath()`` gives the file, for tests and for the web."""

    def __init__(self, imagePath, title=""):
        pwviewer.View.__init__(self)
        self._imagePath = os.path.abspath(imagePath)
        self._title = title or os.path.basename(imagePath)

    def getImagePath(self):
        return self._imagePath

    def show(self):
        import matplotlib.image as mpimg
        from pyworkflow.gui.plotter import Plotter
        image = mpimg.imread(self._imagePath)
        height, width = image.shape[:2]
        plotter = Plotter(windowTitle=self._title, figsize=(width / 100.0, height / 100.0),
                          dpi=100)
        axes = plotter.getFigure().add_axes([0, 0, 1, 1])
        axes.imshow(image)
        axes.axis("off")
        plotter.show()


def chimeraProgram():
    """The ChimeraX executable of Scipion's chimera plugin (scipion-em-chimera), or None
    when the plugin is not installed or its ChimeraX is missing."""
    try:
        import chimera  # scipion-em-chimera
    except ImportError:
        return None
    if not hasattr(chimera, "Plugin"):  # some other module named chimera
        return None
    try:
        from pwem.viewers.viewer_chimera import Chimera
        program = Chimera.getProgram()
    except Exception:
        return None
    if program and os.path.exists(program):
        return program
    return None


def chimeraMessage(script):
    """Text telling the user how to open a script without Scipion's chimera plugin."""
    return ("ChimeraX is not available through Scipion (install the scipion-em-chimera "
            "plugin to open it from here).\n\nThe ChimeraX script was written to:\n"
            f"{script}\n\nOpen it with:\n    chimerax {script}\n"
            "or, inside ChimeraX:  open " + script)


def chimeraViewOrMessage(script, viewer=None):
    """A view launching ChimeraX on ``script`` when Scipion's chimera plugin is there, else a
    message view with the script's path and how to open it."""
    script = os.path.abspath(script)
    if chimeraProgram() is not None:
        from pwem.viewers.viewer_chimera import ChimeraView
        return ChimeraView(script)
    tkParent = viewer.getTkRoot() if viewer is not None else None
    return pwviewer.MessageView(chimeraMessage(script), title="ChimeraX script",
                                msgType=pwviewer.MSG_INFO, tkParent=tkParent)


# -- files and maps -----------------------------------------------------------------------
def cleanFileName(fileName):
    """A Scipion file name without its ``:mrc`` style format suffix."""
    base, sep, suffix = fileName.rpartition(":")
    if sep and suffix and "/" not in suffix and len(suffix) <= 5:
        return base
    return fileName


class LocSpiralViewerBase(pwviewer.ProtocolViewer):
    """Shared parts of the viewers; subclasses define the form and the ``make*`` methods."""
    _environments = [pwviewer.DESKTOP_TKINTER]

    # ---------------------------------------------------------------- paths
    def _projectPath(self, path):
        """An absolute path for a path stored relative to the project."""
        path = cleanFileName(path)
        if os.path.isabs(path):
            return path
        project = self.getProject() or self.protocol.getProject()
        candidate = project.getPath(path) if project is not None else path
        if os.path.exists(candidate) or not os.path.exists(path):
            return os.path.abspath(candidate)
        return os.path.abspath(path)

    def extraPath(self, *names):
        """Absolute path under the run's extra/ folder (created when needed)."""
        path = self._projectPath(self.protocol._getExtraPath(*names))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def volumePath(self, volume):
        return self._projectPath(volume.getFileName())

    def readVolume(self, volume):
        """The data (z, y, x float32) of a Scipion Volume."""
        return core.read_map(self.volumePath(volume), volume.getSamplingRate()).data

    def readInputMap(self, volume=None):
        """The map the protocol analysed: the average of the input's half maps when it has
        them (as the protocols do), else the map itself."""
        volume = volume or self.protocol.inputVolume.get()
        if volume.hasHalfMaps():
            halves = [core.read_map(self._projectPath(fn), volume.getSamplingRate()).data
                      for fn in volume.getHalfMaps(asList=True)[:2]]
            if len(halves) == 2:
                return core.average_half_maps(halves[0], halves[1])
        return self.readVolume(volume)

    def readMask(self):
        """The run's mask (extra/mask.mrc) as booleans."""
        path = self._projectPath(self.protocol._getExtraPath(EXTRA_MASK))
        return core.read_map(path, self._voxelSize()).data > 0.5

    def readInputMask(self, data=None):
        """The mask the run was given, rebuilt as the protocol built it: the mask volume, or
        the automatic mask of the analysed map (the run layer's ``default_mask``) at the
        threshold the run recorded, with the form's low-pass and dilation. (For
        LocBFactor's filtered fit, extra/mask.mrc is smaller: it leaves out unfittable
        voxels.) Falls back to extra/mask.mrc."""
        prot = self.protocol
        try:
            if prot.useMaskVolume.get():
                return self.readVolume(prot.inputMask.get()) > 0.5
            threshold = getattr(prot, ATTR_MASK_THRESHOLD).get()
            if threshold is not None:
                from .. import run
                data = self.readInputMap() if data is None else data
                kwargs = {}
                for name, attr in (("lowpass", "maskLowpass"), ("dilation", "maskDilation")):
                    value = getattr(prot, attr, None)
                    if value is not None and value.get() is not None:
                        kwargs[name] = float(value.get())
                auto = run.default_mask(data, self._voxelSize(), threshold=float(threshold),
                                        **kwargs)
                return core.validate.as_mask(auto.mask, data.shape)
        except Exception:
            pass
        return self.readMask()

    def _voxelSize(self):
        return float(self.protocol.inputVolume.get().getSamplingRate())

    def _origin(self, volume=None):
        """x, y, z (Å) of grid index 0 as Scipion places the map (the Volume's origin
        shifts, as pwem's ChimeraX viewer uses them)."""
        volume = volume or self.protocol.inputVolume.get()
        return tuple(float(v) for v in volume.getOrigin(force=True).getShifts())

    def _output(self, name):
        output = getattr(self.protocol, name, None)
        if output is None:
            raise ValueError(f"the run has no output '{name}' (not finished?)")
        return output

    # ---------------------------------------------------------------- form helpers
    @staticmethod
    def _addLevelParam(form, name="surfaceLevel", label="Surface level"):
        form.addParam(name, params.FloatParam, allowsNull=True, label=label,
                      help="Contour level of the surface. Empty: automatic, from the map's "
                           "own density inside the run's mask: the surface encloses the "
                           "voxels holding 80% of that density, and lies at least 3 noise "
                           "SDs above the solvent (so a loose mask does not put it in the "
                           "noise). Small specks are hidden (ChimeraX 'surface dust').")

    @staticmethod
    def _addRangeParams(form, palette, what, lowDefault=None, highDefault=None):
        form.addParam("palette", params.StringParam, default=palette,
                      label="ChimeraX palette",
                      help="A ChimeraX palette: rainbow, bluered, redblue, cyanmaroon, "
                           "grayscale (prefix ^ to reverse it, e.g. ^rainbow), colours "
                           "separated by ':' (blue:white:red), or any palette name ChimeraX "
                           "knows.")
        line = form.addLine("Colour range",
                            help=f"Values of the {what} at the two ends of the palette. Empty: "
                                 "the low and high percentiles below, inside the mask.")
        line.addParam("colorLow", params.FloatParam, allowsNull=True, default=lowDefault,
                      label="min")
        line.addParam("colorHigh", params.FloatParam, allowsNull=True, default=highDefault,
                      label="max")
        line = form.addLine("Automatic range percentiles", expertLevel=params.LEVEL_ADVANCED,
                            help="Percentiles of the values inside the mask used for an "
                                 "empty colour range.")
        line.addParam("percentileLow", params.FloatParam, default=2.0, label="low")
        line.addParam("percentileHigh", params.FloatParam, default=98.0, label="high")

    def colourRange(self, values, mask):
        """(vmin, vmax) from the form, the empty ends from robust percentiles in the mask."""
        lo, hi = cx.robust_range(values, mask, self.percentileLow.get(),
                                            self.percentileHigh.get())
        if self.colorLow.get() is not None:
            lo = float(self.colorLow.get())
        if self.colorHigh.get() is not None:
            hi = float(self.colorHigh.get())
        if not hi > lo:
            raise ValueError(f"the colour range min ({lo:g}) must be below its max ({hi:g})")
        return lo, hi

    @staticmethod
    def levelOr(value, volume, mask):
        """The form's level, or :func:`suggest_level` when it is empty."""
        if value is not None:
            return float(value)
        return cx.suggest_level(volume, mask)

    # ---------------------------------------------------------------- views
    def _chimeraView(self, script):
        return [chimeraViewOrMessage(script, self)]

    @staticmethod
    def _imageView(png, title=""):
        return [ImageFileView(png, title)]

    def _guard(self, make, wrap):
        """Call ``make()`` and ``wrap`` its result into views, or an error message view."""
        try:
            return wrap(make())
        except Exception as exc:
            return [self.errorMessage(str(exc), title="LocSpiral viewer")]

    def _citations(self):
        return ["Kaur2021"]
