"""quant.compile(torch.nn.Module): a small CNN and a small transformer block
built here, exported inside compile(), compared with torch's own outputs.
torch comes from requirements-torch.txt (scripts/setup.sh installs it)."""

import math

import numpy as np
import pytest

import quant
from conftest import sqnr_db

torch = pytest.importorskip("torch")
nn = torch.nn


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x)


class TinyBlock(nn.Module):
    """Pre-norm self-attention and a GELU MLP, as in a transformer layer."""

    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.heads, self.dim = heads, dim
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        b, t, d = x.shape
        h = self.norm1(x)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        q = q.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        k = k.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        v = v.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.mlp(self.norm2(x))


def _randomize_bn(module, gen):
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


def test_small_cnn_float_and_w8a8():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = SmallCNN().eval()
    with torch.no_grad():
        _randomize_bn(net, gen)
    x = torch.randn(2, 3, 16, 16, generator=gen)
    with torch.no_grad():
        ref = net(x).numpy()
    model = quant.compile(net, example_inputs=(x,), input_names=["image"], float=True,
                          progress=False)
    assert [t.name for t in model.inputs] == ["image"]
    np.testing.assert_allclose(model(x), ref, rtol=1e-4, atol=1e-4)
    # A torch tensor is read in place (DLPack); a numpy array gives the same.
    np.testing.assert_array_equal(model(x), model(x.numpy()))

    calib = [torch.randn(2, 3, 16, 16, generator=gen) for _ in range(8)]
    q = quant.compile(net, example_inputs=(x,), calib=calib, progress=False)
    assert sqnr_db(ref, q(x)) > 25


def test_small_transformer_dynamic_sequence():
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    block = TinyBlock().eval()
    x = torch.randn(1, 12, 32, generator=gen)
    model = quant.compile(block, example_inputs=(x,), input_names=["tokens"],
                          output_names=["hidden"],
                          dynamic_axes={"tokens": {1: "seq"}, "hidden": {1: "seq"}},
                          float=True, progress=False)
    assert model.inputs[0].shape[1] is None, model.inputs
    for t in (12, 5):
        xt = torch.randn(1, t, 32, generator=gen)
        with torch.no_grad():
            ref = block(xt).numpy()
        np.testing.assert_allclose(model(xt), ref, rtol=1e-4, atol=1e-4)
    q = quant.compile(block, example_inputs=(x,), input_names=["tokens"],
                      dynamic_axes={"tokens": {1: "seq"}}, progress=False)
    with torch.no_grad():
        ref = block(x).numpy()
    assert sqnr_db(ref, q(x)) > 25


def test_module_without_example_inputs_is_an_error():
    with pytest.raises(TypeError, match="example_inputs"):
        quant.compile(SmallCNN())
