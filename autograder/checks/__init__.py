"""Hidden checks, one module per lesson; each module lists its EXERCISES."""
