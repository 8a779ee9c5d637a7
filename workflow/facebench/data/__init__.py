"""Getting datasets: download with checksums, safe extraction, dataset readers and protocol files."""
