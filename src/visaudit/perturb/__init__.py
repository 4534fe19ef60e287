"""Pure batched tensor perturbations in [0,1] pixel space (CPU and CUDA, no per-image loops)."""
