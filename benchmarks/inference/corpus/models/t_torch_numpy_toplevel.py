import numpy as np
import torch


class NumpyNormalized(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)
        self.register_buffer("mean", torch.as_tensor(np.zeros(4, dtype=np.float32)))

    def forward(self, x):
        return self.linear(x - self.mean)
