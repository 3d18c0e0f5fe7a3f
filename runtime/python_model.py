"""The base class of custom Python models (the pyfunc flavor), shaped like MLflow's ``PythonModel``.

It lives in the runtime, not in the host package, because a pickled model refers to it by name: unpickling
must work inside a model's environment where envrepro itself is not installed.
"""


class PythonModelContext(object):
    """What ``load_context`` receives: the model's artifacts as local paths, and its ``model_config``."""

    def __init__(self, artifacts, model_config=None):
        self.artifacts = dict(artifacts)
        self.model_config = dict(model_config or {})

    def __repr__(self):
        return "PythonModelContext(artifacts={!r})".format(self.artifacts)


class PythonModel(object):
    """Subclass this, implement ``predict``; optionally ``load_context`` to read artifacts once at load."""

    def load_context(self, context):
        """Called once after loading, before any ``predict``."""

    def predict(self, context, model_input, params=None):
        raise NotImplementedError(
            "{} must implement predict(context, model_input, params=None)".format(type(self).__name__))
