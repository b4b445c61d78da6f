"""EMD-3488 with its model 5ME2: every method at its default settings, measured against the
model map; and LocSharpen on the EMD-21457 segment against a model map of 6VYB computed on
its grid (``test_realdata.measure_segment``). Prints markdown tables for the README (and
writes them with --out).

    python benchmarks/realdata_report.py                     # data in ../shared/realdata
    python benchmarks/realdata_report.py --data DIR --out benchmarks/results_realdata.md
    python benchmarks/realdata_report.py --json figures.json  # every figure, machine-readable

The runs and the figures are those of ``locspiral_em/tests/test_realdata.py`` (its
``measure`` and ``markdown_table``), so the README table and the test assertions are the same
numbers: the run layer with default settings (automatic mask, default min resolution, band
widths and estimator; max resolution 3.2 Å, the deposited resolution, where the default is the
half-map FSC, since EMDB has no half maps for this entry).
"""
import argparse
import json
import os
import sys
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from locspiral_em.tests import test_realdata as rd  # noqa: E402


def segment_table(f):
    """LocSharpen on the EMD-21457 segment (``test_realdata.measure_segment``) as markdown."""
    heads = rd.SEGMENT_REGIONS
    cuts = f["model_b_tertile_cuts_A2"]
    lines = [f"## EMD-21457 segment ({f['box']} at {f['voxel_size_A']:.2f} Å/voxel, "
             "thresholded) with 6VYB residues 27-293, default settings", "",
             "Correlation with a model map of 6VYB on the segment's grid (Gaussian atoms with "
             "their PDB B, low-passed to 3.2 Å) in the 3 Å model mask; B tertiles: the PDB B "
             f"of each voxel's nearest atom, cuts {cuts[0]:.1f} / {cuts[1]:.1f} Å^2. "
             f"LocSharpen's noise: {f['locsharpen_noise']}.", "",
             "| map | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for name in ("input", "global", "locsharpen"):
        lines.append(f"| {name} | " + " | ".join(f"{f[f'corr_{name}_{h}']:.3f}" for h in heads)
                     + " |")
    lines += ["", f"Per-residue Spearman of the local B with the PDB B ({f['residues']} "
              f"residues; right sign negative): LocSharpen {f['spearman_locsharpen']:+.3f}, "
              f"LocBFactor {f['spearman_locbfactor']:+.3f}."]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None,
                        help="folder with emd_3488.mrc, model_map.mrc, model_map_mask3A.mrc, "
                             f"5me2.pdb (default: {rd.data_dir()})")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    parser.add_argument("--json", default=None, help="also write every figure as JSON here")
    parser.add_argument("--threads", type=int, default=1, help="FFT threads (default 1)")
    args = parser.parse_args(argv)
    folder = args.data or rd.data_dir()
    reason = rd.missing_data(folder)
    if reason:
        parser.error(reason)
    figures = rd.measure(folder, workers=args.threads, published=True)["figures"]
    title = (f"## EMD-3488 (haemoglobin, 3.2 Å, {figures['box']} at "
             f"{figures['voxel_size_A']:.2f} Å/voxel) with the 5ME2 model, default settings")
    text = f"{title}\n\n{rd.markdown_table(figures)}\n"
    segment = None
    if all((Path(folder) / name).is_file() for name in (rd.SEGMENT, rd.SEGMENT_PDB)):
        segment = rd.measure_segment(folder, workers=args.threads)["figures"]
        text += "\n" + segment_table(segment) + "\n"
        figures = dict(figures, segment=segment)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
