"""Names shared by the protocols and the viewers (no Scipion imports here)."""

# Values of the "spiral" option.
SPIRAL_RIESZ = "riesz"
SPIRAL_REFERENCE = "reference"
SPIRAL_CHOICES = [SPIRAL_RIESZ, SPIRAL_REFERENCE]

# Output attribute names, one per protocol result.
OUT_ENHANCED = "enhancedMap"          # LocSpiral
OUT_SHARPENED = "sharpenedMap"        # LocBSharpen
OUT_QUALITY = "qualityMap"            # LocSpiral and LocBSharpen (W map)
OUT_BFACTOR = "bfactorMap"            # LocBFactor, Å^2 (B for sharpening, negative = decay)
OUT_AMPLITUDE = "amplitudeMap"        # LocBFactor, A map (log amplitude)
OUT_OCCUPANCY = "occupancyMap"        # LocOccupancy, 0..1
OUT_LOCSHARPEN = "sharpenedMap"       # LocSharpen: the locally sharpened map
OUT_LOCSHARPEN_BFACTOR = "bfactorMap"  # LocSharpen: the smoothed local B map used (Å^2)
OUT_MATURITY_OCCUPANCY = "occupancyMaps"   # maturity: SetOfVolumes, one per immature map
OUT_MATURITY_MISSING = "missingMaps"       # maturity: SetOfVolumes, one per immature map

# Files every protocol run writes under its extra/ folder (besides the output maps).
EXTRA_MASK = "mask.mrc"              # binary mask actually used (1 = molecule); LocBFactor:
                                     # the returned mask (input mask less unfittable voxels);
                                     # maturity index: the mature map's mask
EXTRA_RESULTS = "results.json"       # numbers stored on the protocol (read by createOutputStep)
EXTRA_SUMMARY = "summary.json"       # the run layer's JSON summary (same schema as the CLI's
                                     # --json: locspiral_em.run)
EXTRA_NOISE_CURVE = "noise_curve.txt"  # LocBFactor: 2 columns, res_square (1/Å^2), noise (log)

# Output map files under extra/.
FILE_ENHANCED = "enhanced.mrc"
FILE_SHARPENED = "sharpened.mrc"
FILE_QUALITY = "quality.mrc"
FILE_BFACTOR = "bfactor.mrc"
FILE_AMPLITUDE = "amplitude.mrc"
FILE_OCCUPANCY = "occupancy.mrc"
FILE_LOCSHARPEN = "locsharpen.mrc"
FILE_LOCSHARPEN_BFACTOR = "locsharpen_bfactor.mrc"
FILE_MATURITY_OCCUPANCY = "occupancy_%03d.mrc"   # maturity index, one per immature map (1-based)
FILE_MATURITY_MISSING = "missing_%03d.mrc"

# Protocol attributes (pyworkflow Float/Integer, stored with the run).
ATTR_MAX_RES = "maxResUsed"          # every protocol: max resolution used (Å)
ATTR_FSC_RES = "fscResolution"       # every protocol: half-map FSC 0.143 (Å), unset without halves
ATTR_MASK_THRESHOLD = "maskThresholdUsed"  # automatic mask: threshold used (on the map
                                           # low-passed to the mask low-pass, 15 Å)
ATTR_MASK_VOXELS = "maskVoxels"      # voxels in the mask used
ATTR_MASK_VOLUME = "maskVolume"      # volume of the mask used (Å^3)
ATTR_MASK_BOX_FRACTION = "maskBoxFraction"  # fraction of the box inside the mask
ATTR_NUM_BANDS = "numBands"          # frequency bands swept (per map for the maturity index)
ATTR_MEAN_B = "meanB"                # LocBFactor: mean local B inside the mask (Å^2);
                                     # LocSharpen: mean of the smoothed local B it used
ATTR_SD_B = "sdB"                    # LocBFactor: SD (N-1) of the local B inside the mask (Å^2)
ATTR_GLOBAL_B = "globalB"            # LocBFactor: global Guinier B of the input map inside
                                     # the mask (Å^2), over the local fit's own range
ATTR_GLOBAL_B_MIN_RES = "globalBMinRes"  # LocBFactor: range of that Guinier fit (Å): the
                                         # min and max resolution of LocBFactor
ATTR_GLOBAL_B_MAX_RES = "globalBMaxRes"

# Attributes of each item of the maturity-index output sets.
ATTR_MATURITY_INDEX = "_maturityIndex"   # Float, 0..1 (published: the mature map < 1)
ATTR_MATURITY_NORMALISED = "_maturityNormalisedIndex"  # Float: index / the mature map's own
ATTR_SOURCE_NAME = "_sourceName"         # String, name of the immature map
ATTR_SOURCE_POSITION = "_sourcePosition"  # Integer, 1-based position in the input list
