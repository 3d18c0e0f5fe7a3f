"""A feature function pickled by reference inside an sklearn pipeline; shipped in code/."""
import numpy as np
from dateutil import relativedelta


def months_apart(X):
    return np.asarray(X) * relativedelta.relativedelta(months=1).months
