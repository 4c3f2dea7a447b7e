"""torchvision's ImageNet evaluation preprocessing on PIL, the reference for doconv-zoo's eval.

Usage: preprocess_pil.py OUT.npy RESIZE CROP FILE... -> float32 [N, 3, CROP, CROP] after
Resize(RESIZE) (PIL bilinear), CenterCrop(CROP), ToTensor(), Normalize(ImageNet mean/std),
and OUT.npy.u8.npy with the uint8 crops [N, CROP, CROP, 3] before ToTensor. Files PIL cannot
open give NaN rows (and zero crops).
"""
import sys

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

out, resize, crop, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
geometry = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop)])
tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
xs, u8 = [], []
for f in files:
    try:
        with open(f, 'rb') as fh:
            img = Image.open(fh).convert('RGB')
        g = geometry(img)
        u8.append(np.asarray(g, dtype=np.uint8))
        xs.append(tensor(g).numpy())
    except Exception as e:  # noqa: BLE001 - reported as NaN rows
        print(f'{f}: {e}', file=sys.stderr)
        u8.append(np.zeros((crop, crop, 3), np.uint8))
        xs.append(np.full((3, crop, crop), np.nan, np.float32))
np.save(out, np.stack(xs).astype(np.float32))
np.save(out + '.u8.npy', np.stack(u8))
print(torch.__version__, Image.__version__ if hasattr(Image, '__version__') else '')
