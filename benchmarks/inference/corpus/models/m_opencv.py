import numpy as np

from envrepro import PythonModel


class Blur(PythonModel):
    def predict(self, context, model_input, params=None):
        import cv2

        image = np.asarray(model_input, dtype=np.uint8)
        return cv2.GaussianBlur(image, (3, 3), 0).tolist()
