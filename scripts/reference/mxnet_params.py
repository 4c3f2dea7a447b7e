"""MXNet's NDArray-list file (what Gluon's save_parameters and Module's save_checkpoint write).

MXNet does not install here, so the scripts write the format byte by byte: header 0x112, then one
V2 record per array (magic, stype 0, shape, cpu context, float32 data), then the names.
"""
import struct

import numpy as np


def write_params(file, arrays):
    """Writes [(name, array)] as float32 NDArray V2 records."""
    with open(file, 'wb') as f:
        f.write(struct.pack('<QQQ', 0x112, 0, len(arrays)))
        for _, a in arrays:
            a = np.ascontiguousarray(a, dtype=np.float32)
            f.write(struct.pack('<Iii', 0xF993FAC9, 0, a.ndim))
            f.write(struct.pack(f'<{a.ndim}q', *a.shape))
            f.write(struct.pack('<iii', 1, 0, 0))  # dev_type cpu, dev_id 0, type_flag float32
            f.write(a.tobytes())
        f.write(struct.pack('<Q', len(arrays)))
        for name, _ in arrays:
            b = name.encode()
            f.write(struct.pack('<Q', len(b)))
            f.write(b)
