# Training: one job per trained model of config (its backbone, loss, training dataset and alignment), run as one
# process, or as train.processes data-parallel ones under torchrun.
# The resumable state lives in work/ beside the training log, results/train/<model>/work (not an output, so a failed
# or killed job keeps it).


rule train:
    input:
        unpack(train_validation),  # val_faces, val_pairs where train.validate is set
        faces=lambda w: f"{train_store(w)}/faces.npy",
        train_list=lambda w: f"{RESULTS}/protocols/{config['models'][w.model]['train']['dataset']}/train.tsv",
        init=train_init,
    output:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        log=f"{RESULTS}/train/{{model}}/log.tsv",
        summary=f"{RESULTS}/train/{{model}}/summary.json",
    log:
        f"{RESULTS}/logs/train/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}.tsv"
    wildcard_constraints:
        model=one_of(TRAINED),
    conda:
        "../../envs/torch.yaml"
    threads: lambda w: config["models"][w.model]["train"]["threads"]
    resources:
        gpu=train_gpus,
    params:
        spec=lambda w: as_json(model_spec(w)),
        store=lambda w, input: folder(input.faces),
        init=lambda w, input: f"--init {input.init}" if input.init else "",
        val=train_validation_options,
        work=lambda w, output: f"{folder(output.summary)}/work",
        device=lambda w: model_spec(w)["train"]["device"],
        launcher=train_launcher,
        threads=train_process_threads,
    shell:
        "{params.launcher} facebench train {wildcards.model} --spec {params.spec} --store {params.store} "
        "--train-list {input.train_list} {params.init} {params.val} --out {output.model} --log {output.log} "
        "--summary {output.summary} --work {params.work} --device {params.device} --threads {params.threads} "
        "> {log} 2>&1"
