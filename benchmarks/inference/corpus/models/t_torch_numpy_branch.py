import torch


class ClippedNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x):
        out = self.linear(x)
        if x.shape[0] > 512:  # huge batches are post-processed with scipy; the example is small
            import scipy.signal

            out = torch.as_tensor(scipy.signal.medfilt(out.detach().numpy().ravel())).reshape(-1, 1)
        return out
