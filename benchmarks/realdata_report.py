"""EMD-3488 with its model 5ME2: every method at its default settings, measured against the
model map; prints a markdown table for the README (and writes it with --out).

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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from locspiral_em.tests import test_realdata as rd  # noqa: E402


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
