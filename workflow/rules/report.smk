# The report: rendered from the metrics files alone, self-contained, with a run manifest beside it.


rule summary:
    input:
        metrics=metrics_files(),
        dev_thresholds=dev_threshold_files(),
    output:
        parquet=f"{RESULTS}/summary.parquet",
        csv=f"{RESULTS}/summary.csv",
    log:
        f"{RESULTS}/logs/summary/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/summary/summary.tsv"
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m facebench summary {input.metrics} {input.dev_thresholds} "
        "--parquet {output.parquet} --csv {output.csv} > {log} 2>&1"


rule report:
    input:
        metrics=metrics_files(),
        studies=landmark_studies(),
        training=expand(f"{RESULTS}/train/{{model}}/summary.json", model=TRAINED),
        tsne=expand(f"{RESULTS}/analysis/tsne/{{model}}.npz", model=TRAINED),
        analysis=analysis_files(),
        published=PUBLISHED,
        published_roc=published_roc_files(),
        template=REPORT_TEMPLATE,
        profiles=SHIPPED_PROFILES,
        dev_thresholds=dev_threshold_files(),
        summary=f"{RESULTS}/summary.parquet",
    output:
        html="report/index.html",
        manifest="report/manifest.json",
    log:
        f"{RESULTS}/logs/report/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/report.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        spec=lambda w: as_json(
            {
                "title": config["report"]["title"],
                "profile": config["profile"],
                "studies": config["report"]["studies"],
                "labels": {m: s.get("label", m) for m, s in config["models"].items()},
            }
        ),
    shell:
        "python -m facebench report {input.metrics} --studies {input.studies} --training {input.training} --tsne {input.tsne} "
        "--analysis {input.analysis} --published-roc {input.published_roc} "
        "--published {input.published} --profiles {input.profiles} --dev-thresholds {input.dev_thresholds} --summary {input.summary} --template {input.template} "
        "--spec {params.spec} --out {output.html} --manifest {output.manifest} > {log} 2>&1"
