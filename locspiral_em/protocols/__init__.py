"""The Scipion protocols of the plugin (one module per protocol; shared code in
protocol_base)."""
from .protocol_base import LocSpiralProtBase
from .protocol_locbfactor import LocSpiralProtBFactor
from .protocol_locbsharpen import LocSpiralProtBSharpen
from .protocol_locsharpen import LocSpiralProtLocSharpen
from .protocol_lococcupancy import LocSpiralProtOccupancy
from .protocol_locspiral import LocSpiralProtEnhance
from .protocol_maturity import LocSpiralProtMaturity

__all__ = ["LocSpiralProtBase", "LocSpiralProtEnhance", "LocSpiralProtBSharpen",
           "LocSpiralProtLocSharpen", "LocSpiralProtBFactor", "LocSpiralProtOccupancy",
           "LocSpiralProtMaturity"]
