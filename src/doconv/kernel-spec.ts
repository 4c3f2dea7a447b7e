import { DoconvError } from '../errors.js';

/** A user's `--kernel NAME=MxN` override; NAME may use * and ? wildcards. */
export interface KernelOverride {
  pattern: string;
  kernel: [number, number];
  regex: RegExp;
}

export function parseKernelOverride(spec: string): KernelOverride {
  const m = /^(.+)=(\d+)x(\d+)$/.exec(spec.trim());
  if (m === null) throw new DoconvError('BAD_ARGUMENT', `--kernel expects NAME=MxN (e.g. layer1.0.conv2=3x1), got '${spec}'`);
  const pattern = m[1]!;
  const M = Number(m[2]);
  const N = Number(m[3]);
  if (M < 1 || N < 1) throw new DoconvError('BAD_ARGUMENT', `--kernel ${spec}: sizes must be positive`);
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return { pattern, kernel: [M, N], regex: new RegExp(`^${body}$`) };
}

/**
 * The kernel shape for a layer: the first override matching its full or state-dict-relative name,
 * else square when M*N is. A wildcard override whose area differs skips the layer (it was meant for
 * others); a literal name whose area differs is an error.
 */
export function resolveKernel(names: string[], area: number, overrides: readonly KernelOverride[]): [number, number] | undefined {
  for (const o of overrides) {
    if (names.some((n) => o.regex.test(n))) {
      if (o.kernel[0] * o.kernel[1] !== area) {
        if (/[*?]/.test(o.pattern)) continue;
        throw new DoconvError('DOCONV_SHAPE_MISMATCH', `--kernel ${o.pattern}=${o.kernel[0]}x${o.kernel[1]} does not fit: the layer's D has M*N = ${area}`, { key: names[0] });
      }
      return o.kernel;
    }
  }
  const k = Math.round(Math.sqrt(area));
  return k * k === area ? [k, k] : undefined;
}
