"""CCP-EM Pipeliner (Doppio) jobs for the spiral-phase local methods.

The pipeliner finds them through the ``ccpem_pipeliner.jobs`` entry points declared in
``pyproject.toml`` (install with ``pip install "scipion-em-locspiral[ccpem]"`` into the
pipeliner's Python):

    locspiral.postprocess.local_enhancement   LocalEnhancementJob   (LocSpiral)
    locspiral.postprocess.local_bsharpen      LocalBSharpenJob      (LocBSharpen)
    locspiral.postprocess.local_sharpen       LocalSharpenJob       (LocSharpen)
    locspiral.map_analysis.local_bfactor      LocalBFactorJob       (LocBFactor)
    locspiral.map_analysis.local_occupancy    LocalOccupancyJob     (LocOccupancy)
    locspiral.map_analysis.maturity_index     MaturityIndexJob      (maturity index)

Each job runs the ``locspiral-em`` command line in the pipeliner's own Python; nothing here
imports Scipion (pyworkflow/pwem), so the jobs work in a plain CCP-EM installation.

This ``__init__`` deliberately imports nothing: ``locspiral_em.ccpem.scene`` (run as a job
command) must not pull in the pipeliner job classes.
"""
