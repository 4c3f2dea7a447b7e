"""JPEGs shaped like ImageNet validation files, made from source photos with PIL (libjpeg-turbo).

Usage: make_photo_variants.py SRC_DIR_OR_FILES... --out DIR [--count N] [--seed S]
Each variant: a random crop of a source photo scaled so its longer side is 300..600 pixels, saved at
quality 70..95 with 4:2:0, 4:2:2 or 4:4:4 chroma subsampling, baseline or progressive, a tenth of
them greyscale. Without sources, smooth random fields with noise stand in for photos.
"""
import argparse
import os

import numpy as np
from PIL import Image

p = argparse.ArgumentParser()
p.add_argument('sources', nargs='*')
p.add_argument('--out', required=True)
p.add_argument('--count', type=int, default=200)
p.add_argument('--seed', type=int, default=0)
a = p.parse_args()
rng = np.random.default_rng(a.seed)
files = []
for s in a.sources:
    if os.path.isdir(s):
        files += [os.path.join(s, f) for f in sorted(os.listdir(s)) if f.lower().endswith(('.jpg', '.jpeg', '.png'))]
    else:
        files.append(s)


def synthetic(h, w):
    base = rng.random((h // 16 + 2, w // 16 + 2, 3)) * 255
    img = Image.fromarray(base.astype(np.uint8)).resize((w, h), Image.BICUBIC)
    arr = np.asarray(img).astype(np.float32) + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


os.makedirs(a.out, exist_ok=True)
for i in range(a.count):
    if files:
        src = Image.open(files[i % len(files)]).convert('RGB')
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img = src.crop((x, y, x + cw, y + ch))
    else:
        img = synthetic(int(rng.integers(200, 600)), int(rng.integers(200, 600)))
    longer = int(rng.integers(300, 601))
    s = longer / max(img.size)
    img = img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))), Image.BICUBIC)
    if min(img.size) < 64:
        img = img.resize((max(64, img.size[0]), max(64, img.size[1])))
    if rng.random() < 0.1:
        img = img.convert('L')
    img.save(os.path.join(a.out, f'variant_{i:04d}.JPEG'), quality=int(rng.integers(70, 96)),
             subsampling=int(rng.choice([0, 1, 2])), progressive=bool(rng.random() < 0.3))
print(f'{a.count} JPEGs from {len(files) or "synthetic"} sources in {a.out}')
