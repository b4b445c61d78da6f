"""scipion-em-locspiral: spiral-phase local methods for cryo-EM maps (Scipion 3 plugin)."""
from setuptools import find_packages, setup

setup(
    name="scipion-em-locspiral",
    version="0.1.0",
    description="LocSpiral, LocBSharpen, LocBFactor, LocOccupancy and the maturity index "
                "for cryo-EM maps: a numerical core, a command line and a Scipion 3 plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.8",
    packages=find_packages(),
    include_package_data=True,
    package_data={"locspiral_em": ["protocols.conf", "*.png"]},
    install_requires=["numpy>=1.21", "scipy>=1.8", "mrcfile>=1.4"],
    extras_require={
        "scipion": ["scipion-pyworkflow>=3.0", "scipion-em>=3.0"],
        "plots": ["matplotlib>=3.5"],
        "test": ["pytest>=7"],
        "all": ["scipion-pyworkflow>=3.0", "scipion-em>=3.0", "matplotlib>=3.5", "pytest>=7"],
    },
    entry_points={
        "pyworkflow.plugin": ["locspiral_em = locspiral_em"],
        "console_scripts": ["locspiral-em = locspiral_em.cli:main"],
    },
    classifiers=["Programming Language :: Python :: 3",
                 "Topic :: Scientific/Engineering :: Bio-Informatics"],
)
