"""Face detection and landmarking (MTCNN)."""
