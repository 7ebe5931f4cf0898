"""The jobs: plan + run + result dataclasses for analyze, explain, sweep and check."""
