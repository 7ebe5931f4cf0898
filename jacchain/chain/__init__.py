"""The chain of factors a derivative is the product of, and plans that multiply it."""
