import type { Device } from './types.js';

/**
 * onnxruntime-node execution providers to try for a device, in order. CUDA exists when the package
 * was installed with its CUDA download (ONNXRUNTIME_NODE_INSTALL=cuda12); WebGPU (Dawn over Vulkan)
 * is bundled but needs a GPU adapter; CPU always works.
 */
export function providersFor(device: Device): string[] {
  return device === 'gpu' ? ['cuda', 'webgpu'] : ['cpu'];
}

export const GPU_HELP =
  'no GPU execution provider could be used; install onnxruntime-node with its CUDA build (ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node) on a machine with an NVIDIA GPU and CUDA 12, or use a machine where WebGPU finds an adapter; or run with --device cpu';
