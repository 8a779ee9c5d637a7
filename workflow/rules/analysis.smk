# Embedding analysis: t-SNE of the same training identities for every trained model.


rule tsne_train:
    wildcard_constraints:
        model=one_of(TRAINED),
    input:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        faces=lambda w: f"{train_store(w)}/faces.npy",
        train_list=lambda w: f"{RESULTS}/protocols/{config['models'][w.model]['train']['dataset']}/train.tsv",
    output:
        f"{RESULTS}/analysis/tsne/{{model}}.npz",
    params:
        store=train_store,
        seed=config["seed"],
    threads: 1
    log:
        f"{RESULTS}/logs/tsne_train/{{model}}.log",
    conda:
        "../../envs/torch.yaml"
    shell:
        "{FACEBENCH} tsne --model {input.model} --store {params.store} --train-list {input.train_list} "
        "--seed {params.seed} --threads {threads} --out {output} 2>&1 | tee {log}"
