/** Shapes of one PyTorch DO-Conv layer (docs/doconv-layouts.md, "PyTorch"). */
export interface TorchFuseDims {
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
 * fuseTorchKernel: K[o, c, m] = sum_s Dt[(o mod g)*ipg + c, m, s] * W[o, c, s], the kernel
 * do_conv_pytorch.py hands to F.conv2d. The reference reshapes W (C_out, ipg, D_mul) to
 * (C_out/g, C_in, D_mul) and runs einsum('ims,ois->oim', D, W), so for g > 1 row (o mod g)*ipg + c
 * of D pairs with W[o, c] -- not the input channel the conv reads. That quirk is part of the
 * trained model, so it is reproduced here. Accumulates in float64; output (C_out, ipg, M, N).
 */
export function fuseTorchKernel<T extends Float32Array | Float64Array>(W: ArrayLike<number>, Dt: ArrayLike<number>, dims: TorchFuseDims, out: T): T {
  const { outChannels, inChannelsPerGroup: ipg, groups, kernelArea: mn, dMul } = dims;
  for (let o = 0; o < outChannels; o++) {
    const rowBase = (o % groups) * ipg;
    for (let c = 0; c < ipg; c++) {
      const w = (o * ipg + c) * dMul;
      const d = (rowBase + c) * mn * dMul;
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
