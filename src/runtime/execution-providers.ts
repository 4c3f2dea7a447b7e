import type { Backend } from './types.js';

/**
 * What `--device gpu` may run on, in order:
 *  1. onnxruntime-node's CUDA execution provider: present when onnxruntime-node was installed with
 *     its CUDA download (ONNXRUNTIME_NODE_INSTALL=cuda12) on a machine with an NVIDIA GPU;
 *  2. onnxruntime-node's bundled WebGPU provider (Dawn over Vulkan on Linux, D3D12 on Windows,
 *     Metal on macOS): needs a GPU adapter ("No supported adapters" otherwise);
 *  3. @tensorflow/tfjs-node-gpu (libtensorflow with CUDA), when installed, for models that can be
 *     had as TensorFlow.js (zoo names, DO-Conv checkpoints, TensorFlow.js folders).
 */
export type GpuCandidate = { engine: 'onnx'; provider: 'cuda' | 'webgpu' } | { engine: 'tfjs'; backend: 'tensorflow'; package: '@tensorflow/tfjs-node-gpu' };

/** What a model reference is, as far as choosing an engine goes. */
export type ModelKind = 'onnx-file' | 'tfjs-folder' | 'checkpoint' | 'zoo-name';

export interface GpuPlan {
  candidates: GpuCandidate[];
  /** Engines left out, with the reason (reported if nothing works). */
  skipped: string[];
}

export const TFJS_NODE_GPU = '@tensorflow/tfjs-node-gpu';

/** The GPU engines to try for a backend and model kind, given what is installed. */
export function gpuPlan(backend: Backend, kind: ModelKind, installed: { tfjsNodeGpu: boolean }): GpuPlan {
  const candidates: GpuCandidate[] = [];
  const skipped: string[] = [];
  if (backend === 'onnx') {
    if (kind === 'tfjs-folder') skipped.push('onnxruntime: a TensorFlow.js folder is not an ONNX model');
    else candidates.push({ engine: 'onnx', provider: 'cuda' }, { engine: 'onnx', provider: 'webgpu' });
  }
  const tfjsPossible = kind !== 'onnx-file';
  if (!installed.tfjsNodeGpu) skipped.push(`${TFJS_NODE_GPU}: not installed`);
  else if (!tfjsPossible) skipped.push(`${TFJS_NODE_GPU}: an .onnx file cannot run on TensorFlow.js (give the checkpoint or zoo name instead)`);
  else candidates.push({ engine: 'tfjs', backend: 'tensorflow', package: TFJS_NODE_GPU });
  return { candidates, skipped };
}

export function describeCandidate(c: GpuCandidate): string {
  return c.engine === 'onnx' ? `onnxruntime ${c.provider}` : c.package;
}

/** The error text when no GPU engine started: what was tried, why each failed, what to install. */
export function noGpuMessage(tried: string[], skipped: string[]): string {
  return [
    `no GPU engine could be used here (tried: ${[...tried, ...skipped].join('; ') || 'nothing'})`,
    'to use an NVIDIA GPU: ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node (CUDA 12 and cuDNN 9 libraries on the library path),',
    `or have a Vulkan driver for onnxruntime's WebGPU provider (libvulkan1 and the GPU vendor's ICD), or npm install ${TFJS_NODE_GPU};`,
    'or run with --device cpu',
  ].join(' ');
}
