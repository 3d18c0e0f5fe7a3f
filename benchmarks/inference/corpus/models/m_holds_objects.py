"""Models that keep library objects as attributes: their code never imports the library, the pickle does."""
from envrepro import PythonModel


class WeightsArray(PythonModel):
    def __init__(self, weights):
        self.weights = weights  # a numpy array

    def predict(self, context, model_input, params=None):
        return (self.weights * len(model_input)).tolist()


class LookupTable(PythonModel):
    def __init__(self, table):
        self.table = table  # a pandas DataFrame

    def predict(self, context, model_input, params=None):
        return [float(self.table["value"].iloc[int(i) % len(self.table)]) for i in model_input]


class SparseProjection(PythonModel):
    def __init__(self, matrix):
        self.matrix = matrix  # a scipy.sparse matrix

    def predict(self, context, model_input, params=None):
        return [float(self.matrix.sum()) * x for x in model_input]


class WrapsEstimator(PythonModel):
    def __init__(self, estimator):
        self.estimator = estimator  # a fitted scikit-learn estimator

    def predict(self, context, model_input, params=None):
        return self.estimator.predict([list(model_input)]).tolist()


class Timezoned(PythonModel):
    def __init__(self, zone):
        self.zone = zone  # a dateutil tzinfo

    def predict(self, context, model_input, params=None):
        return [str(self.zone.utcoffset(None)) for _ in model_input]


class MaskedImage(PythonModel):
    def __init__(self, mask):
        self.mask = mask  # a PIL image

    def predict(self, context, model_input, params=None):
        return [self.mask.size[0] * x for x in model_input]


class FeaturizeRef(PythonModel):
    def __init__(self, function):
        self.function = function  # a function from the featurize package in code/, pickled by reference

    def predict(self, context, model_input, params=None):
        return [self.function(text) for text in model_input]
