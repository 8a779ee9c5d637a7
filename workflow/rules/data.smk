# Datasets: verified download (or local folder), then one protocol file per evaluation protocol.


# a local job: it downloads, and cluster nodes often have no network
rule fetch_dataset:
    output:
        manifest=f"{RESULTS}/data/{{dataset}}/manifest.json",
        images=f"{RESULTS}/data/{{dataset}}/images.txt",
    log:
        f"{RESULTS}/logs/fetch_dataset/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fetch_dataset/{{dataset}}.tsv"
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(dataset_spec(w)),
        out=lambda w, output: folder(output.manifest),
    shell:
        "python -m facebench fetch-dataset {wildcards.dataset} --spec {params.spec} --out {params.out} > {log} 2>&1"


rule pairs_protocol:
    input:
        manifest=rules.fetch_dataset.output.manifest,
    output:
        pairs=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.tsv",
        summary=f"{RESULTS}/protocols/{{dataset}}/pairs-{{protocol}}.json",
    log:
        f"{RESULTS}/logs/pairs_protocol/{{dataset}}-{{protocol}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pairs_protocol/{{dataset}}-{{protocol}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(dataset_spec(w)),
    shell:
        "python -m facebench pairs-protocol --manifest {input.manifest} --spec {params.spec} "
        "--protocol {wildcards.protocol} --out {output.pairs} > {log} 2>&1"


rule identification_protocol:
    input:
        manifest=rules.fetch_dataset.output.manifest,
    output:
        table=f"{RESULTS}/protocols/{{dataset}}/identification.tsv",
        summary=f"{RESULTS}/protocols/{{dataset}}/identification.json",
    log:
        f"{RESULTS}/logs/identification_protocol/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/identification_protocol/{{dataset}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(dataset_spec(w)),
    shell:
        "python -m facebench identification-protocol --manifest {input.manifest} --spec {params.spec} "
        "--out {output.table} > {log} 2>&1"


rule training_set:
    input:
        manifest=rules.fetch_dataset.output.manifest,
    output:
        table=f"{RESULTS}/protocols/{{dataset}}/train.tsv",
        summary=f"{RESULTS}/protocols/{{dataset}}/train.json",
    log:
        f"{RESULTS}/logs/training_set/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training_set/{{dataset}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(dataset_spec(w)),
    shell:
        "python -m facebench training-set --manifest {input.manifest} --spec {params.spec} --out {output.table} "
        "> {log} 2>&1"


rule eval_image_list:
    input:
        eval_protocol_files,
    output:
        f"{RESULTS}/protocols/{{dataset}}/eval-images.txt",
    log:
        f"{RESULTS}/logs/eval_image_list/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_image_list/{{dataset}}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m facebench image-list {input} --out {output} > {log} 2>&1"


rule image_list:
    input:
        protocol_files,
    output:
        f"{RESULTS}/protocols/{{dataset}}/images.txt",
    log:
        f"{RESULTS}/logs/image_list/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/image_list/{{dataset}}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m facebench image-list {input} --out {output} > {log} 2>&1"
