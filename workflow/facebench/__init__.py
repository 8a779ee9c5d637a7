"""facebench: a reproducible benchmark of deep face recognition (the library behind the Snakemake rules)."""

__version__ = "0.1.0"
