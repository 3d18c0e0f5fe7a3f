from envrepro import PythonModel


class SparseForBigInputs(PythonModel):
    def predict(self, context, model_input, params=None):
        if len(model_input) > 1000:  # only large batches go sparse: the input example never gets here
            import scipy.sparse

            return scipy.sparse.csr_matrix(model_input).sum()
        return sum(model_input)
