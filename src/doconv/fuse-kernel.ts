import type { PairingRule } from './layer.js';

/** Shapes of one DO-Conv layer in PyTorch's layout (docs/doconv-layouts.md). */
export interface FuseDims {
  outChannels: number;
  inChannelsPerGroup: number;
  groups: number;
  kernelArea: number;
  dMul: number;
}

/**
 * The identity part of D: diag[m, s] = 1 when s < MN*floor(D_mul/MN) and s mod MN == m.
 * Returned as (MN, D_mul); PyTorch stores it per channel as d_diag, Keras and Gluon rebuild it.
 */
export function identityDiag(kernelArea: number, dMul: number): Float32Array {
  const diag = new Float32Array(kernelArea * dMul);
  const limit = kernelArea * Math.floor(dMul / kernelArea);
  for (let s = 0; s < limit; s++) diag[(s % kernelArea) * dMul + s] = 1;
  return diag;
}

/**
 * D + d_diag as the reference computes it (in the source precision: float32 rounding for float32
 * data), shape (C_in, MN, D_mul). `dDiag` of undefined rebuilds the identity part.
 */
export function totalD<T extends Float32Array | Float64Array>(D: T, dDiag: ArrayLike<number> | undefined, dims: { kernelArea: number; dMul: number }): T {
  const out = (D instanceof Float64Array ? new Float64Array(D.length) : new Float32Array(D.length)) as T;
  const block = dims.kernelArea * dims.dMul;
  const diag = dDiag ?? identityDiag(dims.kernelArea, dims.dMul);
  const perChannel = dDiag === undefined;
  for (let i = 0; i < D.length; i++) out[i] = D[i]! + diag[perChannel ? i % block : i]!;
  return out;
}

/**
 * fuseKernel: K[o, c, m] = sum_s Dt[row(o, c), m, s] * W[o, c, s], with W in PyTorch's layout
 * (C_out, C_in/g, D_mul), Dt = D + diag as (C_in, MN, D_mul), K as (C_out, C_in/g, MN).
 * The references differ only in which D row pairs with W[o, c] for grouped convolutions:
 * - pytorch (do_conv_pytorch.py reshapes W to (C_out/g, C_in, D_mul), einsum 'ims,ois->oim'):
 *   row = (o mod g)*ipg + c -- not the input channel the conv reads; part of the trained model;
 * - keras and gluon (W reshaped to (D_mul, C_in, C_out/g), einsum 'msi,sio->mio'):
 *   row = c*g + floor(o / opg).
 * Accumulates in float64.
 */
export function fuseKernel<T extends Float32Array | Float64Array>(W: ArrayLike<number>, Dt: ArrayLike<number>, dims: FuseDims, out: T, pairing: PairingRule = 'pytorch'): T {
  const { outChannels, inChannelsPerGroup: ipg, groups, kernelArea: mn, dMul } = dims;
  const opg = outChannels / groups;
  const rowStride = pairing === 'pytorch' ? 1 : groups;
  for (let o = 0; o < outChannels; o++) {
    const rowBase = pairing === 'pytorch' ? (o % groups) * ipg : Math.floor(o / opg);
    for (let c = 0; c < ipg; c++) {
      const w = (o * ipg + c) * dMul;
      const d = (rowBase + c * rowStride) * mn * dMul;
      const k = (o * ipg + c) * mn;
      for (let m = 0; m < mn; m++) {
        const dm = d + m * dMul;
        let acc = 0;
        for (let s = 0; s < dMul; s++) acc += Dt[dm + s]! * W[w + s]!;
        out[k + m] = acc;
      }
    }
  }
  return out;
}

/** The PyTorch rule (see fuseKernel). */
export function fuseTorchKernel<T extends Float32Array | Float64Array>(W: ArrayLike<number>, Dt: ArrayLike<number>, dims: FuseDims, out: T): T {
  return fuseKernel(W, Dt, dims, out, 'pytorch');
}
