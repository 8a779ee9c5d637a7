"""``facebench`` commands for the report, rendered from the metrics files."""
from __future__ import annotations

from facebench.cli.common import json_arg


def cmd_report(a):
    from facebench.report.build import build_report

    build_report(a.metrics, published=a.published, template=a.template, spec=a.spec, out=a.out,
                 manifest_out=a.manifest, studies=a.studies, training=a.training, tsne=a.tsne,
                 analysis=a.analysis, published_roc=a.published_roc,
                 profiles=a.profiles, dev_thresholds=a.dev_thresholds, summary=a.summary)
    print(f"report written to {a.out}")


def cmd_summary(a):
    from facebench.report.summary import summary_table, write_summary

    if not (a.parquet or a.csv):
        raise SystemExit("facebench summary: give --parquet and/or --csv")
    df = summary_table(a.metrics)
    write_summary(df, parquet=a.parquet, csv=a.csv)
    print(f"{len(df)} rows from {len(a.metrics)} metrics files -> {', '.join(p for p in (a.parquet, a.csv) if p)}")


def register(add) -> None:
    sp = add("report", cmd_report, "render report/index.html from the metrics files")
    sp.add_argument("metrics", nargs="*", help="metrics JSON files written by eval-pairs and rank")
    sp.add_argument("--studies", nargs="*", default=[], help="landmark-agreement JSON files (with their figures)")
    sp.add_argument("--training", nargs="*", default=[], help="training summary JSON files (log.tsv beside each)")
    sp.add_argument("--tsne", nargs="*", default=[], help="t-SNE files of trained models")
    sp.add_argument("--analysis", nargs="*", default=[],
                    help="analysis outputs: scorers, embedding-stats, cpd (JSON) and kernels (.npz)")
    sp.add_argument("--published", required=True, help="the published values (YAML)")
    sp.add_argument("--published-roc", nargs="*", default=[],
                    help="published LFW ROC files (text) to overlay, dashed, on the ROC figure")
    sp.add_argument("--dev-thresholds", nargs="*", default=[],
                    help="dev-threshold metrics files: shown in their own table; their development protocols are not "
                         "shown as results")
    sp.add_argument("--profiles", nargs="*", default=[],
                    help="the shipped profiles (config.yaml, config/*.yaml): a row this profile cannot fill names one")
    sp.add_argument("--template", required=True, help="the jinja2 template")
    sp.add_argument("--spec", type=json_arg, required=True, help="title and profile, as JSON")
    sp.add_argument("--out", required=True)
    sp.add_argument("--manifest")
    sp.add_argument("--summary", help="the results table (results/summary.parquet) the benchmark table is built from; "
                                      "without it the table is collected from the metrics files")

    sp = add("summary", cmd_summary,
             "collect metrics files (verify, rank, dev-threshold) into one tidy table: a row per number")
    sp.add_argument("metrics", nargs="*", help="metrics JSON files written by verify, rank and dev-threshold")
    sp.add_argument("--parquet", help="write the table here as parquet")
    sp.add_argument("--csv", help="write the table here as CSV")
