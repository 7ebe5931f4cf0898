"""Costs from shapes alone: the product rule, plan costs, the time model, the memory model."""
