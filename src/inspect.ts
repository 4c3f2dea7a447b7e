import type { Checkpoint } from './checkpoint/checkpoint.js';
import { dataParallelPrefix, findStateDict } from './checkpoint/tree.js';
import { loadCheckpoint, type LoadOptions } from './checkpoint/load.js';
import { layerSummary } from './doconv/layer.js';
import { networkFromCheckpoint } from './arch/network.js';
import type { ResNetSpec } from './arch/spec.js';
import { DoconvError } from './errors.js';

/** What `inspect --json` prints; `format`, `framework`, `tensors` and `doconvLayers` are a contract. */
export interface InspectReport {
  file: string;
  format: string;
  framework: string;
  byteSize: number;
  tensorCount: number;
  tensorBytes: number;
  stateDict: string | null;
  dataParallel: boolean;
  tensors: { name: string; shape: number[]; dtype: string }[];
  doconvLayers: Record<string, unknown>[];
  /** The zoo architecture recognised from keys and shapes, or null with the reason. */
  architecture: ({ name: string; assumptions: string[] } & Partial<ResNetSpec>) | null;
  architectureError?: string;
  notes: string[];
}

function recognise(ckpt: Checkpoint): Pick<InspectReport, 'architecture' | 'architectureError'> {
  try {
    const net = networkFromCheckpoint(ckpt);
    return { architecture: { name: net.name, ...net.spec, assumptions: net.assumptions } };
  } catch (err) {
    if (err instanceof DoconvError) return { architecture: null, architectureError: err.message };
    throw err;
  }
}

export function inspectCheckpoint(ckpt: Checkpoint): InspectReport {
  const sd = findStateDict(ckpt.root);
  return {
    file: ckpt.file,
    format: ckpt.format,
    framework: ckpt.framework,
    byteSize: ckpt.byteSize,
    tensorCount: ckpt.tensors.length,
    tensorBytes: ckpt.tensors.reduce((a, t) => a + t.tensor.byteLength, 0),
    stateDict: sd === undefined ? null : sd.path,
    dataParallel: sd !== undefined && dataParallelPrefix(sd.dict) !== '',
    tensors: ckpt.tensors.map((t) => ({ name: t.name, shape: [...t.tensor.shape], dtype: t.tensor.dtype })),
    doconvLayers: ckpt.layers.map(layerSummary),
    ...recognise(ckpt),
    notes: ckpt.notes,
  };
}

/** Reads `file` and reports what it holds. */
export async function inspectFile(file: string, options: LoadOptions = {}): Promise<InspectReport> {
  const ckpt = await loadCheckpoint(file, options);
  try {
    return inspectCheckpoint(ckpt);
  } finally {
    ckpt.close();
  }
}
