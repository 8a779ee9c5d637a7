# Aligned-face stores: each (dataset, alignment, template) decoded and warped (or box-cut: template box) once, read by
# every later stage. An insightface .bin's store (method given) is its faces decoded as stored, from the .bin the
# manifest names: no landmarks (align_landmarks gives none), the same rule and outputs.


rule align:
    input:
        manifest=rules.fetch_dataset.output.manifest,
        images=f"{RESULTS}/protocols/{{dataset}}/images.txt",
        landmarks=align_landmarks,
    output:
        faces=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/faces.npy",
        index=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/index.tsv",
        summary=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/summary.json",
    log:
        f"{RESULTS}/logs/align/{{dataset}}-{{alignment}}-{{template}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/align/{{dataset}}-{{alignment}}-{{template}}.tsv"
    wildcard_constraints:
        alignment=one_of(CUT),
    conda:
        "../../envs/data.yaml"
    threads: config["align"]["threads"]
    params:
        method=lambda w: config["alignments"][w.alignment]["method"],
        landmarks=lambda w, input: f"--landmarks {input.landmarks}" if input.landmarks else "",
        box=align_box_options,
        frame=lambda w: " ".join(str(v) for v in dataset_spec(w)["frame"]),
        on_error=config["align"]["on_error"],
        out=lambda w, output: folder(output.faces),
    shell:
        "python -m facebench align --manifest {input.manifest} --images {input.images} --method {params.method} "
        "{params.landmarks} {params.box} --template {wildcards.template} --frame {params.frame} "
        "--on-error {params.on_error} --threads {threads} --out {params.out} > {log} 2>&1"


# A degraded store: the faces of another alignment's store shrunk and enlarged back (alignments.<name>.method: degrade).
rule degrade:
    input:
        faces=lambda w: f"{degrade_source(w)}/faces.npy",
        index=lambda w: f"{degrade_source(w)}/index.tsv",
        summary=lambda w: f"{degrade_source(w)}/summary.json",
    output:
        faces=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/faces.npy",
        index=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/index.tsv",
        summary=f"{RESULTS}/aligned/{{dataset}}/{{alignment}}/{{template}}/summary.json",
    log:
        f"{RESULTS}/logs/degrade/{{dataset}}-{{alignment}}-{{template}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/degrade/{{dataset}}-{{alignment}}-{{template}}.tsv"
    wildcard_constraints:
        alignment=one_of(DEGRADED),
    conda:
        "../../envs/torch.yaml"
    params:
        source=lambda w, input: folder(input.faces),
        size=lambda w: config["alignments"][w.alignment]["size"],
        out=lambda w, output: folder(output.faces),
    shell:
        "python -m facebench degrade --source {params.source} --size {params.size} --out {params.out} > {log} 2>&1"
