"""Maturity level index: how much of a mature map's density each immature map holds."""
import os

import pyworkflow.object as pwobj
import pyworkflow.protocol.params as params
from pwem.objects import SetOfVolumes

from .. import run as run_layer
from ..constants import (ATTR_MATURITY_INDEX, ATTR_MATURITY_NORMALISED, ATTR_SOURCE_NAME,
                         ATTR_SOURCE_POSITION, FILE_MATURITY_MISSING, FILE_MATURITY_OCCUPANCY,
                         OUT_MATURITY_MISSING, OUT_MATURITY_OCCUPANCY)
from ..core import defaults as D
from .protocol_lococcupancy import LocSpiralProtOccupancy

RESULTS_KEY = "maturity"  # results.json: list of per-map entries


def _number(value, digits=3):
    """A stored number for a message, "n/a" when there is none."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def volumeName(volume):
    """A readable name of an input map: its label, else its file name without extension."""
    label = volume.getObjLabel()
    if label:
        return label
    return os.path.splitext(os.path.basename(volume.getFileName().split(":")[0]))[0]


class LocSpiralProtMaturity(LocSpiralProtOccupancy):
    """Maturity level index (Kaur et al. 2021): place immature maps on a maturation timeline.

    The mature map defines the molecule mask. For each immature map (same grid), its local
    occupancy is computed inside that mask and thresholded at the 'highly occupied' level
    (0.75); the maturity index is the fraction of the mature mask that is highly occupied.
    The mature map itself does not score 1 on that published index, so a normalised index
    (the index over the mature map's own: mature = 1, nothing there = 0) is stored beside it.
    Outputs, per immature map, its occupancy map and the density missing from it (the mature
    map where the immature one is not highly occupied), each carrying its index.
    """
    _label = "maturity index"
    _possibleOutputs = {OUT_MATURITY_OCCUPANCY: SetOfVolumes,
                        OUT_MATURITY_MISSING: SetOfVolumes}
    METHOD = "maturity"
    INPUT_LABEL = "Mature map"
    INPUT_HELP = ("The mature (complete) map: its mask defines the molecule, and its density "
                  "the missing-density maps. Its half maps are averaged when present.")
    METHOD_NAME = "the maturity level index"

    def _defineInputParams(self, form):
        LocSpiralProtOccupancy._defineInputParams(self, form)
        form.addParam("inputImmatureVolumes", params.MultiPointerParam, pointerClass="Volume",
                      minNumObjects=1, important=True, label="Immature maps",
                      help="Maps to compare with the mature one, on the same grid and voxel "
                           "size. Half maps are averaged when present.")

    def _defineMethodParams(self, form):
        LocSpiralProtOccupancy._defineMethodParams(self, form)
        form.addParam("occupiedLevel", params.FloatParam, default=D.OCCUPIED_LEVEL,
                      label="Highly occupied level",
                      help="Occupancy from which a voxel counts as present in an immature map "
                           "(0.75 in the paper).")

    def _immatureVolumes(self):
        return [pointer.get() for pointer in self.inputImmatureVolumes]

    def _immatureNames(self):
        """Readable, unique names of the immature maps (their outputs are named by them)."""
        return run_layer.unique_names([volumeName(v) for v in self._immatureVolumes()])

    def _validateMoreVolumes(self, errors, dims, sampling):
        for position, volume in enumerate(self._immatureVolumes(), 1):
            if volume is not None:
                label = f"immature map {position}"
                if self._checkSameGrid(errors, volume, label, dims, sampling, "mature map"):
                    self._validateDensity(errors, volume, label)

    def _validateMethod(self, errors):
        LocSpiralProtOccupancy._validateMethod(self, errors)
        level = self.occupiedLevel.get()
        if level is None or not 0.0 < level <= 1.0:
            errors.append(f"The highly occupied level is an occupancy between 0 and 1 "
                          f"(0.75 typical), not {level}.")

    def _methodSpec(self):
        # Immature maps as the methods see them (half maps averaged: Scipion-specific
        # reading); the run layer compares them with the mature map.
        maps = [self._averagedVolume(volume, f"immature map {position} "
                                             f"({volumeName(volume)})")
                for position, volume in enumerate(self._immatureVolumes(), 1)]
        return dict(LocSpiralProtOccupancy._methodSpec(self), immature=maps,
                    immature_names=self._immatureNames(),
                    occupied=self.occupiedLevel.get())

    def _outputFiles(self):
        files = {}
        for position, name in enumerate(self._immatureNames(), 1):
            files[f"{name}_occupancy"] = FILE_MATURITY_OCCUPANCY % position
            files[f"{name}_missing"] = FILE_MATURITY_MISSING % position
        return files

    def _storedResults(self, summary):
        entries = []
        for entry in summary["results"]["maturity"]:
            position = entry["position"]
            normalised = entry.get("normalised_index")
            self.info(f"Maturity index of immature map {position} ({entry['name']}): "
                      f"{entry['index']:.4f} published, {_number(normalised, 4)} normalised")
            entries.append({"position": position, "name": entry["name"],
                            "index": entry["index"], "normalisedIndex": normalised,
                            "occupancyFile": FILE_MATURITY_OCCUPANCY % position,
                            "missingFile": FILE_MATURITY_MISSING % position})
        return {RESULTS_KEY: entries,
                "matureIndex": summary["results"].get("mature_reference_index")}

    def _createOutputs(self, results):
        mature = self.inputVolume.get()
        sets = {OUT_MATURITY_OCCUPANCY: (self._createSetOfVolumes("Occupancy"),
                                         "occupancyFile"),
                OUT_MATURITY_MISSING: (self._createSetOfVolumes("Missing"), "missingFile")}
        for outputSet, key in sets.values():
            outputSet.setSamplingRate(mature.getSamplingRate())
            for entry in results[RESULTS_KEY]:
                volume = self._newVolume(self._getExtraPath(entry[key]), mature)
                setattr(volume, ATTR_MATURITY_INDEX, pwobj.Float(entry["index"]))
                setattr(volume, ATTR_MATURITY_NORMALISED,
                        pwobj.Float(entry.get("normalisedIndex")))
                setattr(volume, ATTR_SOURCE_NAME, pwobj.String(entry["name"]))
                setattr(volume, ATTR_SOURCE_POSITION, pwobj.Integer(entry["position"]))
                volume.setObjComment(f"{entry['name']}: maturity index {entry['index']:.3f} "
                                     f"(normalised {_number(entry.get('normalisedIndex'))})")
                outputSet.append(volume)
        outputs = {name: outputSet for name, (outputSet, _) in sets.items()}
        self._defineOutputs(**outputs)
        for outputSet in outputs.values():
            self._defineSourceRelation(self.inputVolume, outputSet)
            for pointer in self.inputImmatureVolumes:
                self._defineSourceRelation(pointer, outputSet)

    def timeline(self):
        """Per-map results sorted from least to most mature: dicts with position, name,
        index, occupancyFile, missingFile (files under extra)."""
        entries = self.getResults().get(RESULTS_KEY, [])
        return sorted(entries, key=lambda entry: entry["index"])

    def _summaryMethod(self):
        lines = ["Maturation timeline (least to most mature): published index (fraction of "
                 "the mature mask highly occupied) and normalised index (mature map = 1, "
                 "nothing = 0):"]
        for rank, entry in enumerate(self.timeline(), 1):
            lines.append(f"  {rank}. {entry['name']} (input {entry['position']}): maturity "
                         f"index {entry['index']:.3f}, normalised "
                         f"{_number(entry.get('normalisedIndex'))}")
        mature = self.getResults().get("matureIndex")
        if mature is not None:
            lines.append(f"The mature map itself has a published index of {mature:.3f}.")
        lines.append(f"Outputs: *{OUT_MATURITY_OCCUPANCY}* and *{OUT_MATURITY_MISSING}*, one "
                     f"map per immature map, each with its {ATTR_MATURITY_INDEX} and "
                     f"{ATTR_MATURITY_NORMALISED}.")
        return lines

    def _methodsSettings(self):
        return (LocSpiralProtOccupancy._methodsSettings(self) +
                f", a highly occupied level of {self.occupiedLevel.get():g}")

    def _methodsSentence(self):
        return (f"Immature maps ({len(self._immatureVolumes())}) were ordered along a "
                "maturation timeline by their maturity level index, the fraction of the "
                "mature map's mask that is highly occupied in their local occupancy maps")

    def _methodsResults(self):
        ordered = ", ".join(f"{entry['name']} ({entry['index']:.2f})"
                            for entry in self.timeline())
        return f"Sorted by this index, the maps were: {ordered}." if ordered else ""
