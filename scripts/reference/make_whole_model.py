"""Write whole pickled nn.Modules (torch.save(model), not model.state_dict()) for the tests.

Usage: make_whole_model.py OUTDIR
Writes OUTDIR/net.pth (torch.save of a small DO-Conv Net), OUTDIR/net_dataparallel.pth
(torch.save of nn.DataParallel(net)) and OUTDIR/net.expected.npz: the fused state dict the
plain network (ordinary nn.Conv2d) has, in model.state_dict() order.
Also: nested.pth ({'model': net, 'epoch': 3}), attributes_only.pth (a module whose state_dict()
is empty), holder.pth (a plain object holding tensors, no module), and objects.pth (float64
tensors in a list inside a dict, in a list subclass's items and in __slots__, for --dtype).
"""
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from doconv_reference import DOConv2d, randomize  # noqa: E402
from whole_model_net import AttributesOnly, Holder, Net, Slotted, TensorList  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(13)
net = randomize(Net(), torch.Generator().manual_seed(13)).eval()
torch.save(net, os.path.join(out, 'net.pth'))
torch.save(nn.DataParallel(net), os.path.join(out, 'net_dataparallel.pth'))

plain = Net(plain=True).eval()
fused = {}
for name, m in net.named_modules():
    if isinstance(m, DOConv2d):
        fused[f'{name}.weight'] = m.fused_weight().detach()
sd = {}
for k, v in plain.state_dict().items():
    src = net.state_dict()
    sd[k] = fused[k] if k in fused else src[k]
plain.load_state_dict(sd, strict=True)
np.savez(os.path.join(out, 'net.expected.npz'), **{k: v.numpy() for k, v in sd.items()})
x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(14))
with torch.no_grad():
    assert torch.allclose(net(x), plain(x), atol=1e-5), 'the plain network must compute what the DO-Conv one does'
torch.save({'model': net, 'epoch': 3}, os.path.join(out, 'nested.pth'))
torch.save(AttributesOnly(), os.path.join(out, 'attributes_only.pth'))
torch.save(Holder(), os.path.join(out, 'holder.pth'))
f64 = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
torch.save({'sd': {'w': f64(1.5, 2.5)}, 'history': [f64(1.0), [f64(2.0, 3.0)]], 'items': TensorList([f64(4.0)]), 'slots': Slotted(f64(5.0, 6.0))},
           os.path.join(out, 'objects.pth'))
print('wrote', out)
