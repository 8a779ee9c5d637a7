# Models: published checkpoints imported into the project's own definitions (trained models: train.smk).


rule import_weights:
    output:
        model=f"{RESULTS}/models/{{model}}/model.pt",
    log:
        f"{RESULTS}/logs/import_weights/{{model}}.log",
    wildcard_constraints:
        model=one_of(IMPORTED),
    conda:
        "../../envs/torch.yaml"
    params:
        spec=lambda w: as_json(model_spec(w)),
    shell:
        "python -m facebench import-weights {wildcards.model} --spec {params.spec} --out {output.model} 2>&1 | tee {log}"
