"""The network: specs and configs, activations and losses, and the forward pass."""
