"""Scaler plugins, found through the ``corpus.scalers`` entry-point group."""


def minmax(values):
    low, high = min(values), max(values)
    return [(v - low) / ((high - low) or 1) for v in values]
