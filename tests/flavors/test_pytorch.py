from __future__ import annotations

import json

import pytest
import yaml

import envrepro
from tests.conftest import run_python

torch = pytest.importorskip("torch")

MODEL_SOURCE = '''
import torch

class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x):
        return torch.relu(self.linear(x))
'''


def test_roundtrip_cpu_in_fresh_process(tmp_path, monkeypatch):
    (tmp_path / "tinynet.py").write_text(MODEL_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import tinynet

    torch.manual_seed(0)
    net = tinynet.TinyNet()
    x = [[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]]
    expected = net(torch.tensor(x)).detach().numpy().tolist()
    path = tmp_path / "model"
    envrepro.save_model(net, path, code_paths=[str(tmp_path / "tinynet.py")])
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    assert mlmodel["flavors"]["pytorch"]["pytorch_version"] == torch.__version__.split("+")[0]
    reqs = (path / "requirements.txt").read_text()
    assert f"torch=={torch.__version__.split('+')[0]}\n" in reqs and "+cpu" not in reqs
    out = run_python(f"""
        import json, envrepro
        print(json.dumps(envrepro.load_model({str(path)!r}).predict({x!r}).tolist()))
    """, cwd=tmp_path.parent)
    got = json.loads(out.stdout)
    assert [v for row in got for v in row] == pytest.approx([v for row in expected for v in row])
