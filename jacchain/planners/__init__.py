"""Planners: each turns a chain into a plan (the classic folds, parameter gradients, the DP)."""
