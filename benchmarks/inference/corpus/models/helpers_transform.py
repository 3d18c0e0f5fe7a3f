"""Feature function used inside an sklearn pipeline, shipped in code/."""
import numpy as np
import scipy.special


def logit_features(X):
    return scipy.special.logit(np.clip(X, 0.01, 0.99))
