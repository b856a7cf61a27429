"""Analysis of the reproduction: statistics (``analysis.stats``) over our runs and the papers'
published numbers (``results/paper/results.csv``)."""
