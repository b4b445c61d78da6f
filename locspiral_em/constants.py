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
OUT_MATURITY_OCCUPANCY = "occupancyMaps"   # maturity: SetOfVolumes, one per immature map
OUT_MATURITY_MISSING = "missingMaps"       # maturity: SetOfVolumes, one per immature map
