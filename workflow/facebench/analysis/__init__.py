"""Embedding analysis: t-SNE of training identities (more to come: CPD, clustering, distance histograms)."""
