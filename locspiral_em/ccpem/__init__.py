"""CCP-EM Pipeliner (Doppio) jobs for the spiral-phase local methods.

The pipeliner finds them through the ``ccpem_pipeliner.jobs`` entry points declared in
``pyproject.toml`` (install with ``pip install "scipion-em-locspiral[ccpem]"`` into the
pipeliner's Python):

    locspiral.postprocess.local_enhancement   job_locspiral.LocalEnhancementJob     (LocSpiral)
    locspiral.postprocess.local_bsharpen      job_locbsharpen.LocalBSharpenJob      (LocBSharpen)
    locspiral.postprocess.local_sharpen       job_locsharpen.LocalSharpenJob        (LocSharpen)
    locspiral.map_analysis.local_bfactor      job_locbfactor.LocalBFactorJob        (LocBFactor)
    locspiral.map_analysis.local_occupancy    job_lococcupancy.LocalOccupancyJob    (LocOccupancy)
    locspiral.map_analysis.maturity_index     job_maturity.MaturityIndexJob         (maturity index)

One module per job over ``job_base.py`` (what they share), as ``protocols/`` and ``viewers/``;
``jobs.py`` re-exports every job class (the entry points of earlier versions named it).

Each job runs the ``locspiral-em`` command line in the pipeliner's own Python; nothing here
imports Scipion (pyworkflow/pwem), so the jobs work in a plain CCP-EM installation.

This ``__init__`` deliberately imports nothing: ``locspiral_em.ccpem.scene`` (run as a job
command) must not pull in the pipeliner job classes.
"""
