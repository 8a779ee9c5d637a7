# Models: published checkpoints imported into the project's own definitions (trained models: train.smk).


rule import_weights:
    wildcard_constraints:
        model=one_of(IMPORTED),
    output:
        model=f"{RESULTS}/models/{{model}}/model.pt",
    params:
        spec=lambda w: as_json(model_spec(w)),
    log:
        f"{RESULTS}/logs/import_weights/{{model}}.log",
    conda:
        "../../envs/torch.yaml"
    shell:
        "{FACEBENCH} import-weights {wildcards.model} --spec {params.spec} --out {output.model} 2>&1 | tee {log}"
