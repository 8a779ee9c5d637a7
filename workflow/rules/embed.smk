# Embeddings: features and flipped-face features for every face of a store, by one model.


rule embed:
    input:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        faces=lambda w: f"{store(w.dataset, w.alignment, template_of(w.model))}/faces.npy",
        images=f"{RESULTS}/protocols/{{dataset}}/eval-images.txt",
    output:
        f"{RESULTS}/embeddings/{{model}}/{{dataset}}/{{alignment}}.npz",
    log:
        f"{RESULTS}/logs/embed/{{model}}-{{dataset}}-{{alignment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/embed/{{model}}-{{dataset}}-{{alignment}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["embed"]["threads"]
    resources:
        gpu=0 if config["embed"]["device"] == "cpu" else 1,  # auto asks for one: on a cluster it means use a GPU
    params:
        store=lambda w, input: folder(input.faces),
        batch_size=config["embed"]["batch_size"],
        gpu_batch_size=config["embed"]["gpu_batch_size"],
        device=config["embed"]["device"],
    shell:
        "python -m facebench embed --model {input.model} --store {params.store} --images {input.images} --out {output} "
        "--batch-size {params.batch_size} --gpu-batch-size {params.gpu_batch_size} --device {params.device} "
        "--threads {threads} > {log} 2>&1"
