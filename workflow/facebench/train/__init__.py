"""Training: the loop, its data (sampler, augmentation) and its resumable state."""
