import type { ByteSource } from '../formats/byte-source.js';
import { looksLikeZip, ZipReader } from '../formats/zip.js';
import { sniffTorchLegacy, torchArchivePrefix } from './pytorch.js';

/** What a file is, recognised by its content (never its extension). */
export type SniffedFormat =
  | 'pytorch-zip'
  | 'pytorch-legacy'
  | 'torchscript'
  | 'hdf5'
  | 'keras-zip'
  | 'mxnet-ndarray-list'
  | 'npz'
  | 'npy'
  | 'safetensors'
  | 'tar'
  | 'zip'
  | 'empty'
  | 'unknown';

export const FORMAT_DESCRIPTIONS: Readonly<Record<SniffedFormat, string>> = {
  'pytorch-zip': 'a PyTorch checkpoint (zip format)',
  'pytorch-legacy': 'a PyTorch checkpoint (legacy format)',
  torchscript: 'a TorchScript archive (torch.jit.save)',
  hdf5: 'an HDF5 file (Keras .h5)',
  'keras-zip': 'a Keras 3 .keras archive',
  'mxnet-ndarray-list': 'an MXNet NDArray list (GluonCV .params)',
  npz: 'a NumPy .npz archive',
  npy: 'a NumPy .npy array',
  safetensors: 'a safetensors file',
  tar: 'a tar archive',
  zip: 'a zip archive of unknown content',
  empty: 'an empty file',
  unknown: 'a file of unknown format',
};

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
// MXNet NDArray list: u64 magic 0x112 then u64 reserved 0 (the bytes Netron's mxnet.js checks).
const MXNET_SIGNATURE = [0x12, 0x01, 0, 0, 0, 0, 0, 0];

function startsWith(head: Uint8Array, sig: readonly number[], at = 0): boolean {
  return head.length >= at + sig.length && sig.every((b, i) => head[at + i] === b);
}

export function sniffFormat(source: ByteSource): SniffedFormat {
  if (source.size === 0) return 'empty';
  const head = source.read(0, Math.min(512, source.size));
  if (looksLikeZip(head)) {
    const zip = new ZipReader(source); // a damaged zip throws here, with the zip's own error and offset
    const prefix = torchArchivePrefix(zip);
    if (prefix !== undefined) return zip.entries.has(`${prefix}constants.pkl`) ? 'torchscript' : 'pytorch-zip';
    const names = [...zip.entries.keys()];
    if (names.includes('config.json') && names.some((n) => n.endsWith('.weights.h5'))) return 'keras-zip';
    if (names.length > 0 && names.every((n) => n.endsWith('.npy'))) return 'npz';
    return 'zip';
  }
  if (sniffTorchLegacy(head)) return 'pytorch-legacy';
  if (startsWith(head, HDF5_SIGNATURE)) return 'hdf5';
  if (startsWith(head, MXNET_SIGNATURE)) return 'mxnet-ndarray-list';
  if (startsWith(head, [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59])) return 'npy';
  if (head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar') return 'tar';
  if (head.length >= 9 && head[8] === 0x7b) {
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n > 1n && n + 8n <= BigInt(source.size)) return 'safetensors';
  }
  return 'unknown';
}
