"""The CCP-EM Pipeliner jobs (``locspiral_em/ccpem``) in a real pipeliner project.

Needs ``ccpem-pipeliner`` (``pip install -e ".[ccpem,test]"``; ``.ci/ccpem`` builds such a
venv and runs this file). Where the pipeliner is not importable (the Scipion venv: its scipy
pins clash with the pipeliner's) the whole module is skipped with that reason.

A module-scoped project in a temporary folder gets phantom maps at 1.3 Å/voxel (48^3: a
sharp, a blurred and a half-occupied domain, as the demo) and runs each job in the
foreground, through the entry points, as Doppio would. The checks: job status, output files
with the input's voxel size, output node names and types in the pipeline, the ChimeraX scene
node, the numbers of the JSON summary against the maps, and the results display objects
(after a JSON round trip, as the GUI loads them): the slice figures (cut through the
molecule, local maps grey outside the mask, as the scenes), the B histogram's counts, the
maturity table's rows, the summary text. Each run takes about 2 s on one thread.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion

try:
    from pipeliner.api.manage_project import PipelinerProject
    from pipeliner.data_structure import SUCCESS_FILE
    from pipeliner.job_factory import new_job_of_type
    from pipeliner.project_graph import ProjectGraph
except ImportError as exc:  # the Scipion venv
    pytest.skip(f"ccpem-pipeliner is not importable ({exc}); run .ci/ccpem",
                allow_module_level=True)

import mrcfile  # noqa: E402

from locspiral_em import core  # noqa: E402
from locspiral_em.ccpem import jobs  # noqa: E402

N = 48
VOXEL = 1.3
JOB_TYPES = {
    "locspiral.postprocess.local_enhancement": jobs.LocalEnhancementJob,
    "locspiral.postprocess.local_bsharpen": jobs.LocalBSharpenJob,
    "locspiral.postprocess.local_sharpen": jobs.LocalSharpenJob,
    "locspiral.map_analysis.local_bfactor": jobs.LocalBFactorJob,
    "locspiral.map_analysis.local_occupancy": jobs.LocalOccupancyJob,
    "locspiral.map_analysis.maturity_index": jobs.MaturityIndexJob,
}


# --------------------------------------------------------------------------------------
# Project and inputs
# --------------------------------------------------------------------------------------
def _phantom():
    """The demo's three domains (sharp B 40, blurred B 120, half-occupied) in a 48^3 box at
    1.3 Å/voxel: a voxel size other than 1 shows that outputs keep the input's."""
    c, r = N / 2, N / 7
    d = core.Domain
    domains = [d((c, c - 1.2 * r, c - 1.2 * r), r, 40.0),
               d((c, c - 1.2 * r, c + 1.2 * r), r, 120.0),
               d((c, c + 1.2 * r, c), r, 40.0, occupancy=0.5)]
    return core.make_phantom((N,) * 3, VOXEL, domains, noise=0.5, seed=3)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A new pipeliner project (the current folder while the module's tests run) with the
    input maps under ``Inputs/``; yields the PipelinerProject and the phantom."""
    root = tmp_path_factory.mktemp("ccpem_project")
    ph = _phantom()
    inputs = root / "Inputs"
    inputs.mkdir()

    def put(name, data):
        core.write_map(inputs / name, data.astype(np.float32), VOXEL)

    put("half1.mrc", ph.half1)
    put("half2.mrc", ph.half2)
    put("map.mrc", ph.map)
    put("mask.mrc", ph.mask.astype(np.float32))
    put("mask_small.mrc", ph.mask[:40, :40, :40].astype(np.float32))
    # Maturity: the complete (clean) map, a copy, and intermediates lacking one or two
    # domains, all on one scale as classes of one data set are.
    put("mature.mrc", ph.clean)
    put("complete.mrc", ph.clean)
    put("one_missing.mrc", np.where(ph.domains[1], 0, ph.clean))
    put("two_missing.mrc", np.where(ph.domains[1] | ph.domains[2], 0, ph.clean))
    # A molecule in one corner of the box: planes through the box centre (24) miss it.
    corner = core.make_phantom((N,) * 3, VOXEL, [core.Domain((12, 13, 11), 6, 60.0)],
                               noise=0.3, seed=5)
    put("corner_map.mrc", corner.map)
    put("corner_mask.mrc", corner.mask.astype(np.float32))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        proj = PipelinerProject(make_new_project=True)
        yield proj, ph


def run_job(project, params):
    """Run a job from a parameter dict in the foreground; returns (job name, Process)."""
    proj, _ = project
    params = dict(params, nr_threads=1)  # 2 cores shared by the whole test machine
    job = proj.run_job(params, run_in_foreground=True)
    name = job.output_dir
    with ProjectGraph(read_only=True) as pipeline:
        proc = pipeline.find_process(name)
    return name, proc


def assert_succeeded(name, proc):
    err = Path(name, "run.err").read_text()
    out = Path(name, "run.out").read_text()
    assert proc.status == "Succeeded", f"{name}: {proc.status}\n{out}\n{err}"
    assert Path(name, SUCCESS_FILE).is_file()
    # Every file the command line reports is an output node of the job (so a new output
    # of the run layer cannot go unnoticed), and every node's file exists.
    outputs = summary(name)["outputs"]
    nodes = {n.name for n in proc.output_nodes}
    assert {os.path.normpath(p) for p in outputs.values()} <= \
        {os.path.normpath(n) for n in nodes}, (outputs, nodes)
    assert all(Path(n).is_file() for n in nodes), nodes


def node_types(proc):
    return {os.path.basename(n.name): n.type for n in proc.output_nodes}


def voxel_size(path):
    with mrcfile.open(path, permissive=True) as handle:
        return float(handle.voxel_size.x), handle.data.shape


def results_display(name):
    """The job's display objects, written and read back as the GUI does (so that they are
    JSON-serialisable), keyed by dobj_type (lists)."""
    proj_job = PipelinerProject().get_job(name)
    proj_job.save_results_display_files()
    loaded = proj_job.load_results_display_files()
    by_type = {}
    for rdo in loaded:
        by_type.setdefault(rdo.dobj_type, []).append(rdo)
    assert "pending" not in by_type, [getattr(r, "reason", "") for r in by_type["pending"]]
    return by_type


def summary(name):
    return json.loads(Path(name, "summary.json").read_text())


def check_slices(shown, maps, mask):
    """The job's slice figure: one image display naming exactly ``maps`` and the ``mask``,
    cut at the planes its description gives, which hold mask voxels (through the molecule,
    as the scenes), with grey pixels (local maps outside the mask). Returns the image."""
    import matplotlib.image as mpimg
    assert "montage" not in shown  # the pipeliner's montage cuts the box centre
    (figure,) = shown["image"]
    assert set(figure.associated_data) == set(maps) | {mask}, figure.associated_data
    with mrcfile.open(mask) as m:
        inside = m.data > 0.5
    iz, iy, ix = (int(v) for v in re.findall(r"[zyx] = (\d+)", figure.image_desc))
    assert inside[iz].any() and inside[:, iy].any() and inside[:, :, ix].any()
    image = mpimg.imread(figure.image_path)
    grey = np.all(np.abs(image[..., :3] - 0xd9 / 255) < 0.01, axis=-1)
    assert grey.mean() > 0.01
    return image


def check_scene(name, expected_maps):
    """The VisualisationScript node file points at the .cxc and lists the maps it opens."""
    scene = json.loads(next(Path(name).glob("*_scene.json")).read_text())
    assert scene["script"].endswith(".cxc") and Path(scene["script"]).is_file()
    assert scene["script"] == summary(name)["scene"]
    for path in expected_maps:
        assert path in scene["data"], (path, scene["data"])
    assert all(Path(p).is_file() for p in scene["data"])
    # The .cxc opens every map it lists (relative to its own folder or absolute).
    text = Path(scene["script"]).read_text()
    for path in scene["data"]:
        assert os.path.basename(path) in text, (path, text[:400])


# --------------------------------------------------------------------------------------
# Registration, options, import hygiene (no job run)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("type_name", sorted(JOB_TYPES))
def test_entry_point_gives_the_job_class(type_name):
    job = new_job_of_type(type_name)  # through the ccpem_pipeliner.jobs entry point
    assert type(job) is JOB_TYPES[type_name]
    assert job.PROCESS_NAME == type_name
    assert job.jobinfo.is_available, job.jobinfo.unavailable_message
    assert job.jobinfo.references[0].doi == "10.1038/s41467-021-21509-5"


def test_job_options_mirror_the_command_line():
    """Defaults and flags follow the CLI (core.defaults); the commands are what a user
    would type."""
    from locspiral_em.core import defaults as D
    job = jobs.LocalBFactorJob()
    job.output_dir = "LocBFactor/job007/"
    jo = job.joboptions
    assert jo["min_res"].value == D.defaults("locbfactor").min_res == 15.0
    assert jo["bw"].value == D.defaults("locbfactor").bw  # None: the core's choice
    assert jo["estimator"].value == jo["bw_units"].value == "automatic"
    assert jo["num_points"].value == D.NUM_POINTS
    assert jo["max_res"].is_blank  # half-map FSC by default
    jo["input_half1"].value = "A/h1.mrc"
    jo["input_half2"].value = "A/h2.mrc"
    jo["input_mask"].value = "M/mask.mrc"
    jo["filtered"].value = True
    first, second = [c.cmd for c in job.get_commands()]
    assert first[:4] == ["python", "-m", "locspiral_em.cli", "locbfactor"]
    text = " ".join(map(str, first))
    for part in ("--half1 A/h1.mrc --half2 A/h2.mrc", "--mask M/mask.mrc", "--min-res 15.0",
                 "--num-points 10", "--filtered", "-o LocBFactor/job007/map",
                 "--json LocBFactor/job007/summary.json", "--chimerax", "--threads 1"):
        assert part in text, (part, text)
    # Left at their defaults, these leave the choice to the command line.
    for flag in ("--max-res", "--mask-threshold", "--estimator", "--bw-units", "--window"):
        assert flag not in text, flag
    if D.defaults("locbfactor").bw is None:
        assert "--bw " not in text
    jo["estimator"].value = "published"
    jo["bw"].value = 4.8
    text = " ".join(map(str, job.get_commands()[0].cmd))
    assert "--estimator published" in text and "--bw 4.8" in text
    jo["estimator"].value = "automatic"
    jo["bw"].value = None
    jo["window"].value = 8.0  # the fit's window (FWHM, Å): passed on as --window
    first = job.get_commands()[0].cmd
    assert "--window 8.0" in " ".join(map(str, first))
    assert second[:3] == ["python", "-m", "locspiral_em.ccpem.scene"]
    # The CLI's own parser accepts the command (no flag the CLI does not know).
    from locspiral_em.cli import build_parser
    args = build_parser().parse_args([str(a) for a in first[3:]])
    assert args.filtered and args.num_points == 10 and args.mask == "M/mask.mrc"
    assert args.window == 8.0

    occ = jobs.LocalOccupancyJob()
    assert occ.joboptions["max_res"].value == D.defaults("lococcupancy").max_res == 10.0
    assert "noise_quantile" not in occ.joboptions  # LocOccupancy has no noise threshold


def test_validation_errors():
    job = jobs.LocalBFactorJob()
    job.joboptions["use_halfmaps"].value = False
    job.joboptions["input_map"].value = "Inputs/map.mrc"
    errors = [str(e) for e in job.validate_joboptions() if e.type == "error"]
    # Without half maps there is no FSC resolution: max_res becomes required.
    assert any("Highest resolution" in e for e in errors), errors
    job.joboptions["max_res"].value = 20.0
    errors = [str(e) for e in job.validate_joboptions() if e.type == "error"]
    assert any("must be a smaller number" in e for e in errors), errors
    job.joboptions["max_res"].value = 4.0
    assert [e for e in job.validate_joboptions() if e.type == "error"] == []

    half = jobs.LocalEnhancementJob()  # half maps (the default) but none given
    errors = [str(e) for e in half.validate_joboptions() if e.type == "error"]
    assert sum("Half map" in e for e in errors) == 2, errors


def test_job_modules_do_not_import_scipion():
    """Importing (and instantiating) every job loads neither pyworkflow nor pwem, and the
    scene helper the jobs run loads neither the pipeliner nor numpy."""
    code = (
        "import sys\n"
        "import locspiral_em.ccpem.jobs as j\n"
        "[cls() for cls in (j.LocalEnhancementJob, j.LocalBSharpenJob, j.LocalSharpenJob,"
        " j.LocalBFactorJob, j.LocalOccupancyJob, j.MaturityIndexJob)]\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyworkflow', 'pwem'))\n"
        "assert not bad, bad\n"
        "assert 'pipeliner' in sys.modules\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    code = ("import sys, locspiral_em.ccpem.scene\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pipeliner', 'numpy', 'pyworkflow', 'pwem'))\n"
            "assert not bad, bad\nprint('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_summary_text_and_maturity_rows():
    s = {"resolution": {"min_res_A": 25.0, "max_res_A": 10.0, "max_res_source": "default"},
         "mask": {"source": "auto", "voxels": 1234},
         "results": {"occupancy_mean": 0.7512, "maturity_index": {"b": 0.8, "a": 0.25},
                     "maturity": [{"name": "a", "index": 0.25}], "masked": False},
         "warnings": ["the map looks masked"]}
    text = jobs.summary_text(s).splitlines()
    assert text[0] == "resolution range: 25-10.00 Å (max from default)"
    assert "mask: auto, 1234 voxels" in text
    assert "occupancy_mean: 0.7512" in text
    assert "maturity_index: b 0.8, a 0.25" in text
    assert not any(line.startswith("maturity:") for line in text)  # nested: in the table
    assert text[-1] == "warning: the map looks masked"
    assert jobs.MaturityIndexJob().maturity_rows(s) == [["a", "0.250", "n/a"],
                                                        ["b", "0.800", "n/a"]]
    s["results"]["maturity_normalised_index"] = {"b": 1.0, "a": 0.3125}
    assert jobs.MaturityIndexJob().maturity_rows(s) == [["a", "0.250", "0.312"],
                                                        ["b", "0.800", "1.000"]]


def test_occupancy_region_rows():
    """Doppio's table of occupied regions: one row per region of the summary, in its order
    (largest first), with the volume, median, mean and centre; none without regions."""
    s = {"results": {"occupancy_regions": [
        {"voxels": 900, "volume_A3": 1215.0, "median_occupancy": 1.0, "mean_occupancy": 0.974,
         "centre_xyz_px": [10.2, 20.0, 30.7]},
        {"voxels": 40, "volume_A3": 54.0, "median_occupancy": 0.5, "mean_occupancy": 0.55,
         "centre_xyz_px": [1.0, 2.0, 3.0]}]}}
    assert jobs.LocalOccupancyJob.region_rows(s) == [
        ["1", "1215", "1.00", "0.97", "10 20 31"], ["2", "54", "0.50", "0.55", "1 2 3"]]
    assert jobs.LocalOccupancyJob.region_rows({"results": {}}) == []


def test_scene_file_lists_what_the_script_opens(tmp_path, monkeypatch):
    """The visualisation file's "data" are the candidate maps the .cxc opens (quoted, relative
    to the script's folder, or absolute), not every output; free text with a stray quote
    does not break the parsing; no scene is an error (exit 2), not an empty file."""
    from locspiral_em.ccpem import scene
    monkeypatch.chdir(tmp_path)
    job = tmp_path / "Job" / "job001"
    job.mkdir(parents=True)
    (tmp_path / "in put.mrc").write_bytes(b"")
    for name in ("a.mrc", "mask.mrc", "b.mrc"):
        (job / name).write_bytes(b"")
    (job / "s.cxc").write_text(
        "close session\n2dlabels text 'don't panic\n"
        "open a.mrc name x\n"
        f"open \"{tmp_path / 'in put.mrc'}\" name y\n"
        "# open b.mrc (a comment, not a command)\n")
    summary = {"scene": "Job/job001/s.cxc",
               "outputs": {"a": "Job/job001/a.mrc", "mask": "Job/job001/mask.mrc",
                           "b": "Job/job001/b.mrc", "curve": "Job/job001/c.txt"}}
    (job / "summary.json").write_text(json.dumps(summary))
    assert scene.main(["Job/job001/summary.json", "Job/job001/v.json", "in put.mrc"]) == 0
    written = json.loads((job / "v.json").read_text())
    assert written == {"script": "Job/job001/s.cxc", "data": ["in put.mrc", "Job/job001/a.mrc"]}
    (job / "summary.json").write_text(json.dumps(dict(summary, scene=None)))
    assert scene.main(["Job/job001/summary.json", "Job/job001/w.json"]) == 2
    assert not (job / "w.json").exists()


# --------------------------------------------------------------------------------------
# Jobs run in the project
# --------------------------------------------------------------------------------------
def test_local_enhancement_from_half_maps(project):
    name, proc = run_job(project, {
        "_rlnJobTypeLabel": "locspiral.postprocess.local_enhancement",
        "input_half1": "Inputs/half1.mrc", "input_half2": "Inputs/half2.mrc",
        "input_mask": "Inputs/mask.mrc"})
    assert_succeeded(name, proc)
    assert name.startswith("LocSpiral/job")
    assert node_types(proc) == {
        "map_locspiral.mrc": "DensityMap.mrc.locspiral.localenhanced",
        "map_locspiral_quality.mrc": "Image3D.mrc.locspiral.qualitymap",
        # The scene colours by a copy of W with a sentinel outside the mask.
        "map_locspiral_quality_display.mrc": "Image3D.mrc.locspiral.displaycopy",
        "map_mask.mrc": "Mask3D.mrc.locspiral.mask",
        "map_average.mrc": "DensityMap.mrc.locspiral.halfmapaverage",
        "summary.json": "EvaluationMetric.json.locspiral.summary",
        "map_scene.json": "VisualisationScript.json.locspiral.chimerax",
    }
    for node in proc.output_nodes:
        assert Path(node.name).is_file(), node.name
        if node.name.endswith(".mrc"):
            p, shape = voxel_size(node.name)
            assert p == pytest.approx(VOXEL, abs=1e-4) and shape == (N,) * 3, node.name
    # Input nodes: the half maps and the mask, with their types.
    inputs = {n.name: n.type for n in proc.input_nodes}
    assert inputs == {"Inputs/half1.mrc": "DensityMap.mrc.halfmap",
                      "Inputs/half2.mrc": "DensityMap.mrc.halfmap",
                      "Inputs/mask.mrc": "Mask3D.mrc"}
    s = summary(name)
    assert s["method"] == "locspiral" and s["resolution"]["max_res_source"] == "fsc"
    # The given mask was used as given.
    with mrcfile.open(Path(name, "map_mask.mrc")) as m, \
            mrcfile.open("Inputs/mask.mrc") as given:
        assert np.array_equal(m.data > 0.5, given.data > 0.5)
    check_scene(name, [f"{name}map_locspiral.mrc", f"{name}map_average.mrc"])

    shown = results_display(name)
    image = check_slices(shown, [f"{name}map_average.mrc", f"{name}map_locspiral.mrc",
                                 f"{name}map_locspiral_quality.mrc"], f"{name}map_mask.mrc")
    assert image.shape[0] == int(round(100 * (2.6 * 3 + 0.4)))  # 3 maps, one row each
    assert shown["mapmodel"][0].maps == [f"{name}map_locspiral.mrc"]
    text = shown["text"][0].display_data
    assert "resolution range: 25-" in text and "max from fsc" in text


def test_local_bsharpen_from_one_map_with_automatic_mask(project):
    name, proc = run_job(project, {
        "_rlnJobTypeLabel": "locspiral.postprocess.local_bsharpen",
        "use_halfmaps": False, "input_map": "Inputs/map.mrc", "max_res": 4.0,
        "sharpen_res": 12.0})
    assert_succeeded(name, proc)
    types = node_types(proc)
    assert types["map_locbsharpen.mrc"] == "DensityMap.mrc.locspiral.localsharpen"
    assert types["map_mask.mrc"] == "Mask3D.mrc.locspiral.mask"
    assert "map_average.mrc" not in types and not Path(name, "map_average.mrc").exists()
    s = summary(name)
    assert s["parameters"]["sharpen_res_A"] == 12.0
    assert s["resolution"]["max_res_A"] == 4.0 and s["mask"]["source"] == "auto"
    p, _ = voxel_size(Path(name, "map_locbsharpen.mrc"))
    assert p == pytest.approx(VOXEL, abs=1e-4)
    check_scene(name, ["Inputs/map.mrc", f"{name}map_locbsharpen.mrc"])
    shown = results_display(name)
    check_slices(shown, ["Inputs/map.mrc", f"{name}map_locbsharpen.mrc",
                         f"{name}map_locbsharpen_quality.mrc"], f"{name}map_mask.mrc")
    assert "mask: auto" in shown["text"][0].display_data


def test_local_sharpen_job_options_mirror_the_command_line():
    """LocSharpen's options: core.defaults, flags the CLI parser knows, riesz only."""
    from locspiral_em.cli import build_parser
    from locspiral_em.core import defaults as D
    job = jobs.LocalSharpenJob()
    job.output_dir = "LocSharpen/job003/"
    jo = job.joboptions
    assert jo["min_res"].value == D.defaults("locsharpen").min_res == 25.0
    assert jo["max_res"].is_blank and jo["bw"].value == 4.5
    assert (jo["target_b"].value, jo["smooth"].value, jo["bfactor_min_res"].value,
            jo["num_points"].value, jo["noise_quantile"].value) == (
        D.TARGET_B, D.SHARPEN_SMOOTH, D.BFACTOR_MIN_RES, D.NUM_POINTS, D.NOISE_QUANTILE)
    assert jo["spiral"].choices == ["riesz"]
    jo["input_half1"].value = "A/h1.mrc"
    jo["input_half2"].value = "A/h2.mrc"
    jo["target_b"].value = -15.0
    first = job.get_commands()[0].cmd
    assert first[:4] == ["python", "-m", "locspiral_em.cli", "locsharpen"]
    text = " ".join(map(str, first))
    for part in ("--half1 A/h1.mrc --half2 A/h2.mrc", "--target-b -15.0", "--smooth 3.0",
                 "--bfactor-min-res 15.0", "--num-points 10", "--spiral riesz",
                 "-o LocSharpen/job003/map", "--chimerax"):
        assert part in text, (part, text)
    args = build_parser().parse_args([str(a) for a in first[3:]])
    assert (args.target_b, args.smooth, args.bfactor_min_res, args.num_points) == (
        -15.0, 3.0, 15.0, 10)


def test_local_sharpen_from_half_maps(project):
    """The job's maps are the core's locsharpen of the half maps (their difference as the
    noise), declared as nodes of the right types; the B histogram is the B map in the
    mask; the summary's numbers reach the text display."""
    name, proc = run_job(project, {
        "_rlnJobTypeLabel": "locspiral.postprocess.local_sharpen",
        "input_half1": "Inputs/half1.mrc", "input_half2": "Inputs/half2.mrc",
        "input_mask": "Inputs/mask.mrc", "max_res": 4.0, "target_b": -10.0})
    assert_succeeded(name, proc)
    assert name.startswith("LocSharpen/job")
    assert node_types(proc) == {
        "map_locsharpen.mrc": "DensityMap.mrc.locspiral.localsharpen",
        "map_locsharpen_bfactor.mrc": "Image3D.mrc.locspiral.localbfactormap",
        "map_mask.mrc": "Mask3D.mrc.locspiral.mask",
        "map_average.mrc": "DensityMap.mrc.locspiral.halfmapaverage",
        "summary.json": "EvaluationMetric.json.locspiral.summary",
        "map_scene.json": "VisualisationScript.json.locspiral.chimerax",
    }
    _, ph = project
    h1, h2 = core.read_map("Inputs/half1.mrc"), core.read_map("Inputs/half2.mrc")
    expected = core.locsharpen(core.average_half_maps(h1.data, h2.data), ph.mask,
                               h1.voxel_size, 25.0, 4.0, target_b=-10.0,
                               half_maps=(h1.data, h2.data), workers=1)
    with mrcfile.open(Path(name, "map_locsharpen.mrc")) as m:
        assert float(m.voxel_size.x) == pytest.approx(VOXEL, abs=1e-4)
        np.testing.assert_allclose(m.data, expected.map, atol=1e-5)
    with mrcfile.open(Path(name, "map_locsharpen_bfactor.mrc")) as b:
        bmap = b.data.astype(np.float64)
    np.testing.assert_allclose(bmap, expected.bfactor, atol=1e-3)
    s = summary(name)
    r = s["results"]
    assert s["method"] == "locsharpen" and s["parameters"]["noise_from"] == "half maps"
    assert r["target_b_A2"] == -10.0
    assert r["bfactor_mean_A2"] == pytest.approx(float(bmap[ph.mask].mean()), rel=1e-4)
    check_scene(name, [f"{name}map_locsharpen.mrc", f"{name}map_average.mrc"])

    shown = results_display(name)
    check_slices(shown, [f"{name}map_average.mrc", f"{name}map_locsharpen.mrc",
                         f"{name}map_locsharpen_bfactor.mrc"], f"{name}map_mask.mrc")
    assert shown["mapmodel"][0].maps == [f"{name}map_locsharpen.mrc"]
    hist = shown["histogram"][0]
    assert sum(hist.bins) == int(ph.mask.sum())
    assert f"bfactor_mean_A2: {r['bfactor_mean_A2']:.4g}" in shown["text"][0].display_data


def test_local_bfactor_histogram_matches_the_map(project):
    name, proc = run_job(project, {
        "_rlnJobTypeLabel": "locspiral.map_analysis.local_bfactor",
        "input_half1": "Inputs/half1.mrc", "input_half2": "Inputs/half2.mrc",
        "input_mask": "Inputs/mask.mrc"})
    assert_succeeded(name, proc)
    types = node_types(proc)
    assert types["map_bfactor.mrc"] == "Image3D.mrc.locspiral.localbfactormap"
    assert types["map_amplitude.mrc"] == "Image3D.mrc.locspiral.localamplitudemap"
    assert types["map_noise_curve.txt"] == "EvaluationMetric.txt.locspiral.noisecurve"
    assert types["map_scene.json"] == "VisualisationScript.json.locspiral.chimerax"
    with mrcfile.open(Path(name, "map_bfactor.mrc")) as b, \
            mrcfile.open(Path(name, "map_mask.mrc")) as m:
        assert float(b.voxel_size.x) == pytest.approx(VOXEL, abs=1e-4)
        inside = b.data[m.data > 0.5].astype(np.float64)
    s = summary(name)
    r = s["results"]
    assert inside.size == r["fit_voxels"] > 1000
    assert float(np.mean(inside)) == pytest.approx(r["bfactor_mean_A2"], rel=1e-4)
    # Sharpening sign: the phantom's signal decays, so B inside the mask is negative.
    assert r["bfactor_median_A2"] < 0

    shown = results_display(name)
    hist = shown["histogram"][0]
    # Exactly the fitted voxels, binned over their range.
    assert sum(hist.bins) == inside.size
    assert hist.bin_edges[0] == pytest.approx(inside.min(), abs=1e-3)
    assert hist.bin_edges[-1] == pytest.approx(inside.max(), abs=1e-3)
    counts, _ = np.histogram(inside, bins=np.asarray(hist.bin_edges))
    assert hist.bins == [int(c) for c in counts]
    assert f"{name}map_bfactor.mrc" in hist.associated_data
    check_slices(shown, [f"{name}map_average.mrc", f"{name}map_bfactor.mrc",
                         f"{name}map_amplitude.mrc"], f"{name}map_mask.mrc")
    text = shown["text"][0].display_data
    assert f"bfactor_mean_A2: {r['bfactor_mean_A2']:.4g}" in text
    # The pipeliner's metadata report gets the summary's numbers.
    meta = PipelinerProject().get_job(name).gather_metadata()
    assert meta["results"] == r and meta["method"] == "locbfactor"


def test_local_bfactor_slices_follow_an_off_centre_molecule(project):
    """The scenes' rules in the Pipeliner figure: a molecule far from the box centre is cut
    through itself (not the empty centre the pipeliner's montage would show), and the B
    and A rows are grey outside the mask, where the maps are 0 (B = 0 is not "sharp")."""
    name, proc = run_job(project, {
        "_rlnJobTypeLabel": "locspiral.map_analysis.local_bfactor",
        "use_halfmaps": False, "input_map": "Inputs/corner_map.mrc",
        "input_mask": "Inputs/corner_mask.mrc", "max_res": 4.0, "window": 10.0})
    assert_succeeded(name, proc)
    # The job option reached the fit (the JSON gives the window the band width makes).
    assert summary(name)["parameters"]["window_A"] == pytest.approx(10.0, rel=1e-9)
    shown = results_display(name)
    image = check_slices(shown, ["Inputs/corner_map.mrc", f"{name}map_bfactor.mrc",
                                 f"{name}map_amplitude.mrc"], f"{name}map_mask.mrc")
    (figure,) = shown["image"]
    iz, iy, ix = (int(v) for v in re.findall(r"[zyx] = (\d+)", figure.image_desc))
    with mrcfile.open(Path(name, "map_mask.mrc")) as m:
        inside = m.data > 0.5
    assert not inside[N // 2].any() and not inside[:, :, N // 2].any()  # the box centre
    # The molecule's centre (the fitted mask's centre of mass), within a voxel.
    from scipy import ndimage
    assert np.allclose((iz, iy, ix), ndimage.center_of_mass(inside), atol=1.0)
    # Grey only in the B and A rows (the lower two thirds): the map row shows every voxel.
    grey = np.all(np.abs(image[..., :3] - 0xd9 / 255) < 0.01, axis=-1)
    third = image.shape[0] // 3
    assert grey[:third].mean() < 0.005 and grey[third:].mean() > 0.05


def test_entry_points_name_one_module_per_job():
    """The entry points point at the per-method modules (job_locspiral, ...), whose classes
    are the ones jobs.py re-exports."""
    from importlib.metadata import entry_points
    found = {ep.name: ep.value for ep in entry_points(group="ccpem_pipeliner.jobs")
             if ep.name.startswith("locspiral.")}
    assert set(found) == set(JOB_TYPES)
    for name, value in found.items():
        module, _, cls = value.partition(":")
        assert module.startswith("locspiral_em.ccpem.job_"), value
        assert cls == JOB_TYPES[name].__name__ and JOB_TYPES[name].__module__ == module


def test_local_occupancy(project):
    name, proc = run_job(project, {
        "_rlnJobTypeLabel": "locspiral.map_analysis.local_occupancy",
        "use_halfmaps": False, "input_map": "Inputs/map.mrc",
        "input_mask": "Inputs/mask.mrc"})
    assert_succeeded(name, proc)
    assert node_types(proc)["map_occupancy.mrc"] == "Image3D.mrc.locspiral.localoccupancymap"
    _, ph = project
    with mrcfile.open(Path(name, "map_occupancy.mrc")) as o:
        occ = o.data.astype(np.float64)
        assert float(o.voxel_size.x) == pytest.approx(VOXEL, abs=1e-4)
    inside = occ[ph.mask]
    assert inside.min() >= 0.0 and inside.max() <= 1.0
    r = summary(name)["results"]
    assert float(inside.mean()) == pytest.approx(r["occupancy_mean"], rel=1e-4)
    # The half-occupied domain reads lower than the fully occupied sharp one.
    assert occ[ph.domains[2]].mean() < occ[ph.domains[0]].mean()
    shown = results_display(name)
    hist = shown["histogram"][0]
    assert sum(hist.bins) == int(ph.mask.sum())
    assert 0.0 <= hist.bin_edges[0] and hist.bin_edges[-1] <= 1.0 + 1e-6
    assert "occupancy_mean" in shown["text"][0].display_data


def test_maturity_index_table(project):
    name, proc = run_job(project, {
        "_rlnJobTypeLabel": "locspiral.map_analysis.maturity_index",
        "mature_map": "Inputs/mature.mrc",
        "immature_maps": "Inputs/two_missing.mrc:::Inputs/complete.mrc:::"
                         "Inputs/one_missing.mrc",
        "input_mask": "Inputs/mask.mrc"})
    assert_succeeded(name, proc)
    types = node_types(proc)
    for stem in ("complete", "one_missing", "two_missing"):
        assert types[f"maturity_{stem}_occupancy.mrc"] == \
            "Image3D.mrc.locspiral.localoccupancymap"
        assert types[f"maturity_{stem}_missing.mrc"] == "DensityMap.mrc.locspiral.missingdensity"
        p, _ = voxel_size(Path(name, f"maturity_{stem}_occupancy.mrc"))
        assert p == pytest.approx(VOXEL, abs=1e-4)
    assert types["maturity_mask.mrc"] == "Mask3D.mrc.locspiral.mask"
    inputs = sorted(n.name for n in proc.input_nodes)
    assert inputs == ["Inputs/complete.mrc", "Inputs/mask.mrc", "Inputs/mature.mrc",
                      "Inputs/one_missing.mrc", "Inputs/two_missing.mrc"]
    check_scene(name, ["Inputs/mature.mrc", f"{name}maturity_one_missing_missing.mrc"])

    shown = results_display(name)
    table = shown["table"][0]
    names = [row[0] for row in table.table_data]
    # Least to most mature: missing two domains < missing one < complete.
    assert names == ["two_missing", "one_missing", "complete"]
    indices = [float(row[1]) for row in table.table_data]
    expected = summary(name)["results"]["maturity_index"]
    assert indices == [pytest.approx(expected[n], abs=5e-4) for n in names]
    # (The complete map is not at 1: the mask's weakest quarter, by the occupancy quantile,
    # and the half-occupied domain fall under the 0.75 "present" level.)
    assert indices[0] < indices[1] < indices[2]
    # Normalised by the mature map's own index: the complete map (the mature one) reads 1.
    normalised = summary(name)["results"]["maturity_normalised_index"]
    assert [float(row[2]) for row in table.table_data] == \
        [pytest.approx(normalised[n], abs=5e-4) for n in names]
    assert float(table.table_data[-1][2]) == 1.0
    check_slices(shown, [f"{name}maturity_{s}_occupancy.mrc"
                         for s in ("two_missing", "complete", "one_missing")],
                 f"{name}maturity_mask.mrc")


def test_bad_input_fails_the_job_with_the_cli_message(project):
    """A mask on another grid: the command line refuses it before any computation; the job
    is marked failed, run.err carries the one-line reason, and no output file is left."""
    name, proc = run_job(project, {
        "_rlnJobTypeLabel": "locspiral.map_analysis.local_occupancy",
        "use_halfmaps": False, "input_map": "Inputs/map.mrc",
        "input_mask": "Inputs/mask_small.mrc"})
    assert proc.status == "Failed"
    err = Path(name, "run.err").read_text()
    assert "locspiral-em lococcupancy: error:" in err and "mask" in err, err
    assert not list(Path(name).glob("*.mrc")) and not Path(name, "summary.json").exists()
