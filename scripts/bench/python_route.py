"""The Python route the benchmarks compare against.

python_route.py pth IN OUT.pth          torch.load, the reference einsum fuse, torch.save
python_route.py onnx IN OUT.onnx SPEC   ... then load into the plain torchvision network and torch.onnx.export
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))


def fuse(sd):
    """do_conv_pytorch.py's forward, once per layer: D + d_diag, W reshaped, einsum('ims,ois->oim')."""
    out = {}
    for k, v in sd.items():
        if k.endswith('.W'):
            p = k[:-1]
            c_out, ipg, d_mul = v.shape
            if p + 'D' in sd:
                D = sd[p + 'D'] + sd[p + 'd_diag']
                c_in, mn, _ = D.shape
                g = c_in // ipg
                kk = int(round(mn ** 0.5))
                W = torch.reshape(v, (c_out // g, c_in, d_mul))
                out[p + 'weight'] = torch.reshape(torch.einsum('ims,ois->oim', D, W), (c_out, ipg, kk, kk))
            else:
                out[p + 'weight'] = torch.reshape(v, (c_out, ipg, 1, 1))
        elif not (k.endswith('.D') or k.endswith('.d_diag')):
            out[k] = v
    return out


mode, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
fused = fuse(torch.load(src, map_location='cpu'))
if mode == 'pth':
    torch.save(fused, dst)
else:
    from networks import build  # noqa: E402
    net = build(json.loads(sys.argv[4]))
    net.load_state_dict(fused)
    net.eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(net, x, dst, opset_version=17, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
