# Datasets: verified download (or local folder), then one protocol file per evaluation protocol.


rule fetch_dataset:
    output:
        manifest=f"{RESULTS}/data/{{dataset}}/manifest.json",
        images=f"{RESULTS}/data/{{dataset}}/images.txt",
    log:
        f"{RESULTS}/logs/fetch_dataset/{{dataset}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(dataset_spec(w)),
        out=lambda w: f"{RESULTS}/data/{w.dataset}",
    shell:
        "python -m facebench fetch-dataset {wildcards.dataset} --spec {params.spec} --out {params.out} 2>&1 | tee {log}"


rule pairs_protocol:
    input:
        manifest=rules.fetch_dataset.output.manifest,
    output:
        pairs=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.tsv",
        summary=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.json",
    log:
        f"{RESULTS}/logs/pairs_protocol/{{dataset}}-{{protocol}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(dataset_spec(w)),
    shell:
        "python -m facebench pairs-protocol --manifest {input.manifest} --spec {params.spec} "
        "--protocol {wildcards.protocol} --out {output.pairs} 2>&1 | tee {log}"


rule identification_protocol:
    input:
        manifest=rules.fetch_dataset.output.manifest,
    output:
        table=f"{RESULTS}/protocols/{{dataset}}/identification.tsv",
        summary=f"{RESULTS}/protocols/{{dataset}}/identification.json",
    log:
        f"{RESULTS}/logs/identification_protocol/{{dataset}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(dataset_spec(w)),
    shell:
        "python -m facebench identification-protocol --manifest {input.manifest} --spec {params.spec} "
        "--out {output.table} 2>&1 | tee {log}"


rule training_set:
    input:
        manifest=rules.fetch_dataset.output.manifest,
    output:
        table=f"{RESULTS}/protocols/{{dataset}}/train.tsv",
        summary=f"{RESULTS}/protocols/{{dataset}}/train.json",
    log:
        f"{RESULTS}/logs/training_set/{{dataset}}.log",
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(dataset_spec(w)),
    shell:
        "python -m facebench training-set --manifest {input.manifest} --spec {params.spec} --out {output.table} 2>&1 | tee {log}"


rule eval_image_list:
    input:
        eval_protocol_files,
    output:
        f"{RESULTS}/protocols/{{dataset}}/eval-images.txt",
    log:
        f"{RESULTS}/logs/eval_image_list/{{dataset}}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m facebench image-list {input} --out {output} 2>&1 | tee {log}"


rule image_list:
    input:
        protocol_files,
    output:
        f"{RESULTS}/protocols/{{dataset}}/images.txt",
    log:
        f"{RESULTS}/logs/image_list/{{dataset}}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m facebench image-list {input} --out {output} 2>&1 | tee {log}"
