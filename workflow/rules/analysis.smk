# Embedding analysis: t-SNE of training identities, first-conv kernels, distance histograms and clustering,
# the verification scorers of the survey seed, and CPD between high-resolution and degraded embeddings.


rule tsne_train:
    input:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        faces=lambda w: f"{train_store(w)}/faces.npy",
        train_list=lambda w: f"{RESULTS}/protocols/{config['models'][w.model]['train']['dataset']}/train.tsv",
    output:
        f"{RESULTS}/analysis/tsne/{{model}}.npz",
    log:
        f"{RESULTS}/logs/tsne_train/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tsne_train/{{model}}.tsv"
    wildcard_constraints:
        model=one_of(TRAINED),
    conda:
        "../../envs/torch.yaml"
    threads: config["analysis"]["tsne_threads"]
    params:
        store=lambda w, input: folder(input.faces),
        seed=config["seed"],
    shell:
        "python -m facebench tsne --model {input.model} --store {params.store} --train-list {input.train_list} "
        "--seed {params.seed} --threads {threads} --out {output} > {log} 2>&1"


rule kernels:
    input:
        f"{RESULTS}/models/{{model}}/model.pt",
    output:
        f"{RESULTS}/analysis/kernels/{{model}}.npz",
    log:
        f"{RESULTS}/logs/kernels/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/kernels/{{model}}.tsv"
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m facebench kernels --model {input} --out {output} > {log} 2>&1"


rule embedding_stats:
    input:
        embeddings=f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{alignment}}.npz",
        table=f"{RESULTS}/protocols/{{dataset}}/identification.tsv",
        threshold=threshold_metrics,
    output:
        f"{RESULTS}/analysis/embedding-stats/{{model}}/{{dataset}}/{{alignment}}.json",
    log:
        f"{RESULTS}/logs/embedding_stats/{{model}}-{{dataset}}-{{alignment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/embedding_stats/{{model}}-{{dataset}}-{{alignment}}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: config["analysis"]["threads"]
    params:
        seed=config["seed"],
        max_pairs=config["analysis"]["max_pairs"],
        cluster_max_images=config["analysis"]["cluster_max_images"],
        meta=lambda w: provenance("embedding_stats", model=w.model, dataset=w.dataset, alignment=w.alignment),
    shell:
        "python -m facebench embedding-stats --embeddings {input.embeddings} --identification {input.table} "
        "--threshold-from {input.threshold} --seed {params.seed} --max-pairs {params.max_pairs} "
        "--cluster-max-images {params.cluster_max_images} "
        "--meta {params.meta} --out {output} > {log} 2>&1"


rule compare_scorers:
    input:
        embeddings=f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{alignment}}.npz",
        pairs=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.tsv",
    output:
        f"{RESULTS}/analysis/scorers/{{model}}/{{dataset}}/{{alignment}}/{{protocol}}.json",
    log:
        f"{RESULTS}/logs/compare_scorers/{{model}}-{{dataset}}-{{alignment}}-{{protocol}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/compare_scorers/{{model}}-{{dataset}}-{{alignment}}-{{protocol}}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: config["analysis"]["threads"]
    params:
        scorers=" ".join(config["analysis"]["scorers"]),
        seed=config["seed"],
        n_pairs=config["analysis"]["scorer_training_pairs"],
        meta=lambda w: provenance(
            "compare_scorers",
            model=w.model,
            dataset=w.dataset,
            alignment=w.alignment,
            protocol=w.protocol,
            model_spec=config["models"][w.model],
        ),
    shell:
        "python -m facebench compare-scorers --embeddings {input.embeddings} --pairs {input.pairs} --scorers {params.scorers} "
        "--seed {params.seed} --n-pairs {params.n_pairs} --threads {threads} --meta {params.meta} --out {output} "
        "> {log} 2>&1"


rule cpd:
    input:
        high=f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{alignment}}.npz",
        degraded=f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{degraded}}.npz",
    output:
        f"{RESULTS}/analysis/cpd/{{model}}/{{dataset}}/{{alignment}}-vs-{{degraded}}.json",
    log:
        f"{RESULTS}/logs/cpd/{{model}}-{{dataset}}-{{alignment}}-vs-{{degraded}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/cpd/{{model}}-{{dataset}}-{{alignment}}-vs-{{degraded}}.tsv"
    wildcard_constraints:
        degraded=one_of(DEGRADED),
    conda:
        "../../envs/torch.yaml"
    threads: config["analysis"]["threads"]
    params:
        points=config["analysis"]["cpd_points"],
        seed=config["seed"],
        meta=lambda w: provenance(
            "cpd",
            model=w.model,
            dataset=w.dataset,
            alignment=w.alignment,
            degraded=w.degraded,
            degrade_spec=config["alignments"][w.degraded],
        ),
    shell:
        "python -m facebench cpd --high {input.high} --degraded {input.degraded} --points {params.points} "
        "--seed {params.seed} --meta {params.meta} --out {output} > {log} 2>&1"
