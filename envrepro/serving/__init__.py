"""Scoring inside a model's environment: payload parsing, the HTTP server, the in-environment worker.

Everything in this package runs inside the *model's* environment, so it depends only on the standard
library plus what the model itself brings (numpy/pandas when the model uses them).
"""
