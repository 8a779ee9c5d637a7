# Evaluation: scores per protocol and feature mode, then metrics per threshold search; rank-N identification.


rule score_pairs:
    input:
        embeddings=f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{alignment}}.npz",
        pairs=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.tsv",
    output:
        f"{RESULTS}/scores/{{model}}/{{dataset}}/{{alignment}}/{{protocol}}-{{features}}.tsv",
    log:
        f"{RESULTS}/logs/score_pairs/{{model}}-{{dataset}}-{{alignment}}-{{protocol}}-{{features}}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m facebench score-pairs --embeddings {input.embeddings} --pairs {input.pairs} "
        "--features {wildcards.features} --out {output} 2>&1 | tee {log}"


rule eval_pairs:
    input:
        scores=rules.score_pairs.output,
        protocol=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.json",
    output:
        metrics=f"{RESULTS}/metrics/{{model}}/{{dataset}}/{{alignment}}/{{protocol}}-{{features}}-{{search}}.json",
        roc=f"{RESULTS}/metrics/{{model}}/{{dataset}}/{{alignment}}/{{protocol}}-{{features}}-{{search}}.roc.npz",
    log:
        f"{RESULTS}/logs/eval_pairs/{{model}}-{{dataset}}-{{alignment}}-{{protocol}}-{{features}}-{{search}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        far=" ".join(str(v) for v in config["verification"]["far"]),
        meta=lambda w: provenance(
            "eval_pairs",
            model=w.model,
            dataset=w.dataset,
            alignment=w.alignment,
            protocol=w.protocol,
            features=w.features,
            threshold_search=w.search,
            alignment_spec=config["alignments"][w.alignment],
            model_spec=config["models"][w.model],
        ),
    shell:
        "python -m facebench eval-pairs {input.scores} --protocol {wildcards.search} --far {params.far} "
        "--meta {params.meta} --protocol-summary {input.protocol} --out {output.metrics} --roc {output.roc} "
        "> {log} 2>&1"


rule rank:
    input:
        embeddings=f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{alignment}}.npz",
        table=f"{RESULTS}/protocols/{{dataset}}/identification.tsv",
    output:
        f"{RESULTS}/metrics/{{model}}/{{dataset}}/{{alignment}}/rank-{{features}}.json",
    log:
        f"{RESULTS}/logs/rank/{{model}}-{{dataset}}-{{alignment}}-{{features}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        meta=lambda w: provenance("rank", model=w.model, dataset=w.dataset, alignment=w.alignment, features=w.features),
    shell:
        "python -m facebench rank --embeddings {input.embeddings} --identification {input.table} "
        "--features {wildcards.features} --meta {params.meta} --out {output} 2>&1 | tee {log}"
