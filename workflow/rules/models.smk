# Models: published checkpoints, fetched (a local job: cluster nodes often have no network) and then imported into
# the project's own definitions (trained models: train.smk).


# The verified download is kept as an output, not temp(): a rerun of the import (its key_prefix, rename or backbone
# changed, or model.pt removed) reads it again instead of downloading it again, maybe from a node without network.
rule fetch_weights:
    output:
        f"{RESULTS}/models/{{model}}/source.pth",
    log:
        f"{RESULTS}/logs/fetch_weights/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fetch_weights/{{model}}.tsv"
    wildcard_constraints:
        model=one_of(IMPORTED),
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(weights_source(w)),
    shell:
        "python -m facebench fetch-file --spec {params.spec} --key models.{wildcards.model}.weights --out {output} "
        "> {log} 2>&1"


rule import_weights:
    input:
        source=rules.fetch_weights.output[0],
    output:
        model=f"{RESULTS}/models/{{model}}/model.pt",
    log:
        f"{RESULTS}/logs/import_weights/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/import_weights/{{model}}.tsv"
    wildcard_constraints:
        model=one_of(IMPORTED),
    conda:
        "../../envs/torch.yaml"
    params:
        spec=lambda w: as_json(model_spec(w)),
    shell:
        "python -m facebench import-weights {wildcards.model} --spec {params.spec} --source {input.source} "
        "--out {output.model} > {log} 2>&1"
