# Landmarks, one TSV per (dataset, source) in each image's own pixel frame. A source is pluggable: any file
# configured under datasets.<name>.landmarks (rule landmarks_provided); MTCNN detection plugs in as another rule
# writing the same format.


rule landmarks_provided:
    input:
        manifest=rules.fetch_dataset.output.manifest,
        images=f"{RESULTS}/protocols/{{dataset}}/images.txt",
    output:
        tsv=f"{RESULTS}/landmarks/{{dataset}}/{{source}}.tsv",
        summary=f"{RESULTS}/landmarks/{{dataset}}/{{source}}.json",
    log:
        f"{RESULTS}/logs/landmarks_provided/{{dataset}}-{{source}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/landmarks_provided/{{dataset}}-{{source}}.tsv"
    wildcard_constraints:
        source=r"(?!mtcnn)[A-Za-z0-9_-]+",  # mtcnn* files are the detector's (rules below)
    conda:
        "../../envs/data.yaml"
    params:
        frame=lambda w: " ".join(
            str(v) for v in dataset_spec(w)["landmarks"][w.source].get("frame", dataset_spec(w)["frame"])
        ),
    shell:
        "python -m facebench landmarks-provided --manifest {input.manifest} --source {wildcards.source} "
        "--images {input.images} --frame {params.frame} --out {output.tsv} --summary {output.summary} > {log} 2>&1"


# MTCNN: the published weights, fetched and checked (a local job: it downloads), then one detection pass over the
# images the protocols use.
rule fetch_mtcnn_weights:
    output:
        f"{RESULTS}/models/mtcnn/{{net}}.pt",
    log:
        f"{RESULTS}/logs/fetch_mtcnn_weights/{{net}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fetch_mtcnn_weights/{{net}}.tsv"
    wildcard_constraints:
        net="pnet|rnet|onet",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: as_json(config["detect"]["mtcnn"]["weights"][w.net]),
    shell:
        "python -m facebench fetch-file --spec {params.spec} --key detect.mtcnn.weights.{wildcards.net} --out {output} "
        "> {log} 2>&1"


rule landmarks_mtcnn:
    input:
        manifest=rules.fetch_dataset.output.manifest,
        images=f"{RESULTS}/protocols/{{dataset}}/images.txt",
        weights=expand(f"{RESULTS}/models/mtcnn/{{net}}.pt", net=["pnet", "rnet", "onet"]),
    output:
        tsv=f"{RESULTS}/landmarks/{{dataset}}/mtcnn.tsv",
        summary=f"{RESULTS}/landmarks/{{dataset}}/mtcnn.json",
    log:
        f"{RESULTS}/logs/landmarks_mtcnn/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/landmarks_mtcnn/{{dataset}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: lambda w: config["detect"]["mtcnn"]["threads"]
    resources:
        # auto asks for one: on a cluster it means use a GPU. A function: a profile without MTCNN has no detect.mtcnn
        gpu=lambda w: 0 if config["detect"]["mtcnn"]["device"] == "cpu" else 1,
    params:
        weights=lambda w, input: folder(input.weights[0]),
        options=lambda w: mtcnn_options(),
    shell:
        "python -m facebench landmarks --manifest {input.manifest} --list {input.images} --weights {params.weights} "
        "{params.options} --threads {threads} -o {output.tsv} --summary {output.summary} > {log} 2>&1"


# How far detected points are from a provided reference, in the dataset's frame, with example images drawn.
rule landmark_agreement:
    input:
        manifest=rules.fetch_dataset.output.manifest,
        images=f"{RESULTS}/protocols/{{dataset}}/images.txt",
        detected=rules.landmarks_mtcnn.output.tsv,
        detected_summary=rules.landmarks_mtcnn.output.summary,
        reference=f"{RESULTS}/landmarks/{{dataset}}/{{reference}}.tsv",
    output:
        json=f"{RESULTS}/landmarks/{{dataset}}/mtcnn-vs-{{reference}}.json",
        figure=f"{RESULTS}/landmarks/{{dataset}}/mtcnn-vs-{{reference}}.png",
    log:
        f"{RESULTS}/logs/landmark_agreement/{{dataset}}-{{reference}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/landmark_agreement/{{dataset}}-{{reference}}.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        frame=lambda w: " ".join(str(v) for v in dataset_spec(w)["frame"]),
        examples=lambda w: " ".join(shlex.quote(e) for e in config["detect"]["mtcnn"]["examples"]),
    shell:
        "python -m facebench landmark-agreement --manifest {input.manifest} --images {input.images} "
        "--detected {input.detected} --detected-summary {input.detected_summary} --reference {input.reference} "
        "--reference-name {wildcards.reference} --frame {params.frame} --examples {params.examples} "
        "--figure {output.figure} --out {output.json} > {log} 2>&1"
