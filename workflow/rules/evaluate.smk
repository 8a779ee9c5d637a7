# Evaluation: per protocol, the scores of every feature mode and the metrics of every threshold search (one job:
# each is seconds of work, and a job's start-up costs as much); rank-N, CMC and open-set identification per embedding;
# a development protocol's threshold on its test protocol.
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
    threads: min(config["analysis"]["threads"], len(FEATURES))  # the feature modes at once, one thread each
    params:
        features=" ".join(FEATURES),
        out=lambda w, output: shlex.quote(f"{folder(output[0])}/rank-{{features}}.json"),
        seed=config["seed"],  # the open-set watch-list split and a sampled all-pairs AUC
        exact=config["identification"]["auc_exact_pairs"],
        sample=config["identification"]["auc_sample_negatives"],
        meta=lambda w: provenance("rank", model=w.model, dataset=w.dataset, alignment=w.alignment, seed=config["seed"]),
    shell:
        "python -m facebench rank --embeddings {input.embeddings} --identification {input.table} "
        "--features {params.features} --seed {params.seed} --auc-exact-pairs {params.exact} "
        "--auc-sample-negatives {params.sample} --threads {threads} --meta {params.meta} --out {params.out} > {log} 2>&1"


# A threshold fixed on a development protocol (its `dev` key) and applied unchanged to the test protocol's scores:
# FMR, FNMR and HTER (facebench.evaluate.measures). Reads the score files verify wrote for both protocols.
rule dev_threshold:
    input:
        dev=lambda w: f"{RESULTS}/scores/{w.model}/{w.dataset}/{w.alignment}/{dev_protocol(w)}-{w.features}.tsv",
        test=f"{RESULTS}/scores/{{model}}/{{dataset}}/{{alignment}}/{{protocol}}-{{features}}.tsv",
    output:
        f"{METRICS}/{{protocol}}-{{features}}-devthreshold.json",
    log:
        f"{RESULTS}/logs/dev_threshold/{{model}}-{{dataset}}-{{alignment}}-{{protocol}}-{{features}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/dev_threshold/{{model}}-{{dataset}}-{{alignment}}-{{protocol}}-{{features}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        meta=lambda w: provenance(
            "dev_threshold",
            model=w.model,
            dataset=w.dataset,
            alignment=w.alignment,
            protocol=w.protocol,
            dev_protocol=dev_protocol(w),
            features=w.features,
        ),
    shell:
        "python -m facebench dev-threshold --dev {input.dev} --test {input.test} --meta {params.meta} "
        "--out {output} > {log} 2>&1"
