"""The Python route the benchmark compares against: torch.load, the reference einsum fuse for every
DO-Conv layer (do_conv_pytorch.py's forward), torch.save. Usage: python_route.py IN OUT"""
import sys

import torch

src, dst = sys.argv[1], sys.argv[2]
sd = torch.load(src, map_location='cpu')
out = {}
for k, v in sd.items():
    if k.endswith('.W'):
        p = k[:-1]
        W = v
        c_out, ipg, d_mul = W.shape
        if p + 'D' in sd:
            D = sd[p + 'D'] + sd[p + 'd_diag']
            c_in, mn, _ = D.shape
            g = c_in // ipg
            k_ = int(round(mn ** 0.5))
            W2 = torch.reshape(W, (c_out // g, c_in, d_mul))
            out[p + 'weight'] = torch.reshape(torch.einsum('ims,ois->oim', D, W2), (c_out, ipg, k_, k_))
        else:
            out[p + 'weight'] = torch.reshape(W, (c_out, ipg, 1, 1))
    elif k.endswith('.D') or k.endswith('.d_diag'):
        continue
    else:
        out[k] = v
torch.save(out, dst)
