# Models: published checkpoints imported into the project's own definitions (training rules come later).


rule import_weights:
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
