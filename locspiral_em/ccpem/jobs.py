"""The CCP-EM Pipeliner jobs, one module each over :mod:`.job_base` (as ``protocols/`` and
``viewers/`` are split): this module re-exports them, so ``locspiral_em.ccpem.jobs:...``
(older entry points, scripts) keeps working.
"""
from .job_base import (  # noqa: F401
    AUTOMATIC, KAUR_2021, MAP_FILES, SPIRAL_CHOICES, SUMMARY, Row, histogram_object,
    masked_values, read_summary, slices_display, summary_metadata, summary_text)
from .job_locbfactor import LocalBFactorJob
from .job_locbsharpen import LocalBSharpenJob
from .job_locsharpen import LocalSharpenJob
from .job_locspiral import LocalEnhancementJob
from .job_lococcupancy import LocalOccupancyJob
from .job_maturity import MaturityIndexJob

__all__ = ["LocalEnhancementJob", "LocalBSharpenJob", "LocalSharpenJob", "LocalBFactorJob",
           "LocalOccupancyJob", "MaturityIndexJob"]
