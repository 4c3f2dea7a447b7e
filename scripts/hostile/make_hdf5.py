#!/usr/bin/python3
"""Writes the hostile HDF5 / Keras inputs of test/hostile/hdf5.test.ts and keras-config.test.ts
into test/data/hostile/hdf5/ (small files; the tests read them, never run Python).

Run: /usr/bin/python3 scripts/hostile/make_hdf5.py  (Debian python3-h5py, numpy)
Each file is a Keras weights layout (Keras 2 save_weights: root `layer_names`, groups with
`weight_names`; or Keras 3 .weights.h5: layers/<name>/vars/<i>) with one hostile feature.
"""
import json
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'data', 'hostile', 'hdf5')


def path(name):
    return os.path.join(OUT, name)


def keras2_root(f, layer_names):
    f.attrs['layer_names'] = np.array([n.encode() for n in layer_names])
    f.attrs['backend'] = b'tensorflow'
    f.attrs['keras_version'] = b'2.11.0'


def keras2_layer(f, layer, weights):
    """A save_weights() layer group: weight_names and datasets <layer>/<layer>/<w>:0 (create(group, name))."""
    g = f.create_group(layer)
    g.attrs['weight_names'] = np.array([f'{layer}/{w}:0'.encode() for w, _ in weights])
    inner = g.create_group(layer)
    for w, create in weights:
        create(inner, f'{w}:0')


def plain(data):
    return lambda g, name: g.create_dataset(name, data=data)


def make_external():
    """Datasets whose bytes live in another file (HDF5 external storage): must never be read."""
    for fname, target in [('external-absolute.h5', '/etc/passwd'), ('external-relative.h5', 'secret.txt')]:
        with h5py.File(path(fname), 'w') as f:
            keras2_root(f, ['dense'])
            keras2_layer(f, 'dense', [('kernel', lambda g, n, t=target: g.create_dataset(n, shape=(4, 4), dtype='<f4', external=[(t, 0, 64)]))])


def make_external_link():
    """A weight that is an external link into other.h5 (copied beside it by the test)."""
    with h5py.File(path('external-link-target.h5'), 'w') as f:
        f['d'] = np.arange(16, dtype='<f4').reshape(4, 4)
    with h5py.File(path('external-link.h5'), 'w') as f:
        keras2_root(f, ['dense'])
        g = f.create_group('dense')
        g.attrs['weight_names'] = np.array([b'dense/kernel:0'])
        g.create_group('dense')['kernel:0'] = h5py.ExternalLink('external-link-target.h5', '/d')


def make_virtual():
    """A virtual dataset (VDS) mapping a dataset of another file."""
    with h5py.File(path('virtual-source.h5'), 'w') as f:
        f['d'] = np.arange(16, dtype='<f4').reshape(4, 4)
    layout = h5py.VirtualLayout(shape=(4, 4), dtype='<f4')
    layout[:] = h5py.VirtualSource('virtual-source.h5', 'd', shape=(4, 4))
    with h5py.File(path('virtual.h5'), 'w', libver='latest') as f:
        keras2_root(f, ['dense'])
        g = f.create_group('dense')
        g.attrs['weight_names'] = np.array([b'dense/kernel:0'])
        g.create_group('dense').create_virtual_dataset('kernel:0', layout, fillvalue=0)


def make_filters():
    """Filters other than deflate/shuffle/fletcher32 are refused; those three read fine."""
    data = np.arange(64 * 64, dtype='<f4').reshape(64, 64) / 7
    with h5py.File(path('filter-lzf.h5'), 'w') as f:
        keras2_root(f, ['dense'])
        keras2_layer(f, 'dense', [('kernel', lambda g, n: g.create_dataset(n, data=data, chunks=(16, 16), compression='lzf'))])
    with h5py.File(path('filter-scaleoffset.h5'), 'w') as f:
        keras2_root(f, ['dense'])
        keras2_layer(f, 'dense', [('kernel', lambda g, n: g.create_dataset(n, data=data, chunks=(16, 16), scaleoffset=3))])
    with h5py.File(path('filter-allowed.h5'), 'w') as f:
        keras2_root(f, ['dense'])
        keras2_layer(f, 'dense', [('kernel', lambda g, n: g.create_dataset(n, data=data, chunks=(16, 16), compression='gzip', shuffle=True, fletcher32=True))])


def make_size_bombs():
    """Datasets that claim far more bytes than the file holds: never written (fill value) or deflated zeros."""
    with h5py.File(path('unwritten-3x1gib.h5'), 'w') as f:
        for i in range(3):
            f.create_dataset(f'layers/dense/vars/{i}', shape=(16384, 16384), dtype='<f4', chunks=(1024, 1024))
    with h5py.File(path('deflate-128mib.h5'), 'w') as f:
        d = f.create_dataset('layers/dense/vars/0', shape=(8192, 4096), dtype='<f4', chunks=(1024, 1024), compression='gzip', compression_opts=9)
        zeros = np.zeros((1024, 4096), dtype='<f4')
        for r in range(0, 8192, 1024):
            d[r:r + 1024] = zeros


def make_links():
    """A group hard-linked into itself; one dataset hard-linked 300 times."""
    with h5py.File(path('self-link.h5'), 'w') as f:
        f['layers/dense/vars/0'] = np.arange(6, dtype='<f4')
        f['layers/dense/loop'] = f['layers']
    with h5py.File(path('hardlink-300.h5'), 'w') as f:
        d = f.create_dataset('layers/dense/vars/0', shape=(512, 512), dtype='<f4', chunks=(256, 256), compression='gzip')
        d[:] = np.zeros((512, 512), dtype='<f4')
        for i in range(1, 300):
            f[f'layers/dense/vars/{i}'] = d


def make_chunked_layer_names():
    """2000 layer names chunked as layer_names0..layer_names1999 (Keras splits a large list so)."""
    with h5py.File(path('layer-names-2000.h5'), 'w', libver='latest') as f:
        f.attrs['backend'] = b'tensorflow'
        for i in range(2000):
            f.attrs[f'layer_names{i}'] = np.array([f'l{i}'.encode()])
        for i in range(2000):
            g = f.create_group(f'l{i}')
            if i == 0:
                g.attrs['weight_names'] = np.array([b'l0/bias:0'])
                g.create_group('l0')['bias:0'] = np.ones(3, dtype='<f4')
            else:
                g.attrs['weight_names'] = np.array([], dtype='S1')


def make_non_utf8():
    """A layer whose name is not UTF-8 (bytes ff fe), in a Keras 3 layout."""
    with h5py.File(path('non-utf8-name.h5'), 'w') as f:
        f[b'layers/\xff\xfe/vars/0'] = np.arange(6, dtype='<f4')


def make_corrupt_chunk():
    """A deflated chunk overwritten with junk: the read fails inside HDF5."""
    name = path('corrupt-chunk.h5')
    with h5py.File(name, 'w') as f:
        d = f.create_dataset('layers/dense/vars/0', data=np.arange(4096, dtype='<f4'), chunks=(4096,), compression='gzip')
        info = d.id.get_chunk_info(0)
        offset, size = info.byte_offset, info.size
    with open(name, 'r+b') as fh:
        fh.seek(offset)
        fh.write(bytes((i * 37 + 11) & 0xff for i in range(size)))


SEQUENTIAL = {
    'class_name': 'Sequential',
    'config': {
        'name': 'tiny',
        'layers': [
            {'class_name': 'InputLayer', 'config': {'name': 'input_1', 'batch_input_shape': [None, 8, 8, 3]}},
            {'class_name': 'Conv2D', 'config': {'name': 'conv', 'filters': 4, 'kernel_size': [3, 3], 'strides': [1, 1], 'padding': 'same',
                                                 'dilation_rate': [1, 1], 'groups': 1, 'activation': 'relu', 'use_bias': True}},
            {'class_name': 'MaxPooling2D', 'config': {'name': 'pool', 'pool_size': [2, 2], 'strides': [2, 2], 'padding': 'valid'}},
            {'class_name': 'ZeroPadding2D', 'config': {'name': 'pad', 'padding': [[1, 1], [1, 1]]}},
            {'class_name': 'GlobalAveragePooling2D', 'config': {'name': 'gap'}},
            {'class_name': 'Dense', 'config': {'name': 'fc', 'units': 2, 'activation': 'linear', 'use_bias': True}},
        ],
    },
}


def sequential_file(name, config):
    """A Keras 2 model.save() file of the tiny Sequential model with `config` as its model_config."""
    rng = np.random.default_rng(7)
    with h5py.File(path(name), 'w') as f:
        f.attrs['model_config'] = json.dumps(config).encode()
        f.attrs['keras_version'] = b'2.11.0'
        f.attrs['backend'] = b'tensorflow'
        w = f.create_group('model_weights')
        keras2_root(w, ['input_1', 'conv', 'pool', 'pad', 'gap', 'fc'])
        keras2_layer(w, 'input_1', [])
        keras2_layer(w, 'conv', [('kernel', plain(rng.standard_normal((3, 3, 3, 4)).astype('<f4'))), ('bias', plain(np.zeros(4, '<f4')))])
        keras2_layer(w, 'pool', [])
        keras2_layer(w, 'pad', [])
        keras2_layer(w, 'gap', [])
        keras2_layer(w, 'fc', [('kernel', plain(rng.standard_normal((4, 2)).astype('<f4'))), ('bias', plain(np.zeros(2, '<f4')))])


def variant(edit):
    config = json.loads(json.dumps(SEQUENTIAL))
    edit(config['config']['layers'])
    return config


def set_field(index, key, value):
    def edit(layers):
        layers[index]['config'][key] = value
    return edit


def make_keras_configs():
    """Model configs that are well-formed JSON but not a usable Sequential model."""
    sequential_file('sequential-valid.h5', SEQUENTIAL)
    cases = {
        'layers-null': lambda layers: layers.__setitem__(1, None),
        'layer-config-null': lambda layers: layers[1].__setitem__('config', None),
        'layer-name-number': set_field(1, 'name', 5),
        'strides-zero': set_field(1, 'strides', [0, 0]),
        'strides-string': set_field(1, 'strides', 'ab'),
        'strides-one-element': set_field(1, 'strides', [1]),
        'dilation-negative': set_field(1, 'dilation_rate', [-1, 1]),
        'groups-zero': set_field(1, 'groups', 0),
        'groups-fraction': set_field(1, 'groups', 1.5),
        'pool-size-zero': set_field(2, 'pool_size', [0, 0]),
        'pool-strides-string': set_field(2, 'strides', 'x'),
        'zero-padding-string': set_field(3, 'padding', 'ab'),
        'zero-padding-negative': set_field(3, 'padding', [[-5, 1], [1, 1]]),
        'zero-padding-huge': set_field(3, 'padding', [[1000000000, 1], [1, 1]]),
        'input-shape-zero': set_field(0, 'batch_input_shape', [None, 0, 8, 3]),
        'input-shape-string': set_field(0, 'batch_input_shape', [None, 'a', 8, 3]),
        'input-shape-huge': set_field(0, 'batch_input_shape', [None, 100000, 100000, 3]),
        'epsilon-string': lambda layers: layers.insert(2, {'class_name': 'BatchNormalization', 'config': {'name': 'bn', 'epsilon': 'x'}}),
        'class-name-number': lambda layers: layers[2].__setitem__('class_name', 7),
    }
    for name, edit in cases.items():
        sequential_file(f'sequential-{name}.h5', variant(edit))
    sequential_file('sequential-layers-string.h5', {'class_name': 'Sequential', 'config': {'name': 'x', 'layers': 'ab'}})


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    make_external()
    make_external_link()
    make_virtual()
    make_filters()
    make_size_bombs()
    make_links()
    make_chunked_layer_names()
    make_non_utf8()
    make_corrupt_chunk()
    make_keras_configs()
