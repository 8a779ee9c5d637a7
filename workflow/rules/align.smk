# Aligned-face stores: each (dataset, alignment, template) decoded and warped once, read by every later stage.


rule align:
    input:
        manifest=rules.fetch_dataset.output.manifest,
        images=f"{RESULTS}/protocols/{{dataset}}/images.txt",
        landmarks=align_landmarks,
    output:
        faces=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/faces.npy",
        index=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/index.tsv",
        summary=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/summary.json",
    params:
        method=lambda w: config["alignments"][w.alignment]["method"],
        landmarks=lambda w, input: f"--landmarks {input.landmarks}" if input.landmarks else "",
        frame=lambda w: " ".join(str(v) for v in dataset_spec(w)["frame"]),
        on_error=config["align"]["on_error"],
        out=lambda w: store(w.dataset, w.alignment, w.template),
    threads: 2
    log:
        f"{RESULTS}/logs/align/{{dataset}}-{{alignment}}-{{template}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/align/{{dataset}}-{{alignment}}-{{template}}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "{FACEBENCH} align --manifest {input.manifest} --images {input.images} --method {params.method} "
        "{params.landmarks} --template {wildcards.template} --frame {params.frame} --on-error {params.on_error} "
        "--threads {threads} --out {params.out} 2>&1 | tee {log}"
