"""Training with the efficient order on the shared layer functions, with a step-cost model."""
