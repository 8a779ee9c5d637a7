# Evaluation: per protocol, the scores of every feature mode and the metrics of every threshold search (one job:
# each is seconds of work, and a job's start-up costs as much); rank-N identification per embedding.
FEATURES = config["verification"]["features"]
SEARCHES = config["verification"]["threshold_search"]
METRICS = f"{RESULTS}/metrics/{{model}}/{{dataset}}/{{alignment}}"


rule verify:
    input:
        embeddings=f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{alignment}}.npz",
        pairs=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.tsv",
        protocol=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.json",
    output:
        scores=[f"{RESULTS}/scores/{{model}}/{{dataset}}/{{alignment}}/{{protocol}}-{f}.tsv" for f in FEATURES],
        metrics=[f"{METRICS}/{{protocol}}-{f}-{s}.json" for f in FEATURES for s in SEARCHES],
        roc=[f"{METRICS}/{{protocol}}-{f}-{s}.roc.npz" for f in FEATURES for s in SEARCHES],
    log:
        f"{RESULTS}/logs/verify/{{model}}-{{dataset}}-{{alignment}}-{{protocol}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/verify/{{model}}-{{dataset}}-{{alignment}}-{{protocol}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        features=" ".join(FEATURES),
        searches=" ".join(SEARCHES),
        far=" ".join(str(v) for v in config["verification"]["far"]),
        # the command's file name patterns, in the folders of the outputs they name
        scores=lambda w, output: shlex.quote(f"{folder(output.scores[0])}/{w.protocol}-{{features}}.tsv"),
        metrics=lambda w, output: shlex.quote(f"{folder(output.metrics[0])}/{w.protocol}-{{features}}-{{search}}"),
        meta=lambda w: provenance(
            "verify",
            model=w.model,
            dataset=w.dataset,
            alignment=w.alignment,
            protocol=w.protocol,
            alignment_spec=config["alignments"][w.alignment],
            model_spec=config["models"][w.model],
        ),
    shell:
        "python -m facebench verify --embeddings {input.embeddings} --pairs {input.pairs} "
        "--protocol-summary {input.protocol} --features {params.features} --search {params.searches} "
        "--far {params.far} --scores {params.scores} --metrics {params.metrics} --meta {params.meta} > {log} 2>&1"


rule rank:
    input:
        embeddings=f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{alignment}}.npz",
        table=f"{RESULTS}/protocols/{{dataset}}/identification.tsv",
    output:
        [f"{METRICS}/rank-{f}.json" for f in FEATURES],
    log:
        f"{RESULTS}/logs/rank/{{model}}-{{dataset}}-{{alignment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/rank/{{model}}-{{dataset}}-{{alignment}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        features=" ".join(FEATURES),
        out=lambda w, output: shlex.quote(f"{folder(output[0])}/rank-{{features}}.json"),
        meta=lambda w: provenance("rank", model=w.model, dataset=w.dataset, alignment=w.alignment),
    shell:
        "python -m facebench rank --embeddings {input.embeddings} --identification {input.table} "
        "--features {params.features} --meta {params.meta} --out {params.out} > {log} 2>&1"
