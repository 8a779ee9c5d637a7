"""Verification (folds, thresholds, ROC/AUC/TAR/EER) and identification (rank-N)."""
