import { DoconvError } from '../errors.js';
import type { Framework } from '../checkpoint/checkpoint.js';
import { Tensor, toFloat32 } from '../tensor/tensor.js';
import { identityDiag } from './fuse-kernel.js';
import type { DoConvLayer } from './layer.js';

/**
 * An unfused DO-Conv layer in one framework-neutral form: W as PyTorch lays it out (C_out, C_in/g,
 * D_mul) and D without its identity part as rows (C_in, M*N, D_mul).
 */
export interface NeutralDoConv {
  layer: DoConvLayer;
  W: Float32Array;
  D: Float32Array | undefined;
}

const PAIRING_FAMILY: Record<Framework, 'pytorch' | 'keras'> = { pytorch: 'pytorch', keras: 'keras', gluon: 'keras' };

/**
 * Reads a layer into neutral form for writing it unfused in `target`'s layout. Exact only where the
 * two frameworks pair D with W the same way: always between Keras and Gluon, and for groups == 1
 * between PyTorch and them. A PyTorch d_diag that is not the standard identity cannot be carried
 * either (the others rebuild it). Both are refused with the reason.
 */
export function neutralDoConv(layer: DoConvLayer, source: Framework, target: Framework): NeutralDoConv {
  const { outChannels: cOut, inChannelsPerGroup: ipg, dMul, kernelArea: mn } = layer;
  if (PAIRING_FAMILY[source] !== PAIRING_FAMILY[target] && (layer.groups ?? 1) > 1) {
    throw new DoconvError(
      'BAD_ARGUMENT',
      `groups = ${layer.groups}: PyTorch pairs D row (o mod g)*ipg + c with W[o, c], Keras and Gluon pair c*g + floor(o/opg); no unfused ${source} -> ${target} translation is exact. Drop --keep-doconv to write the fused kernel, which translates exactly`,
      { key: layer.name },
    );
  }
  if (target === 'gluon' && dMul !== mn) throw new DoconvError('BAD_ARGUMENT', `GluonCV's DOConv2D supports D_mul = M*N only; this layer has D_mul ${dMul}`, { key: layer.name });
  const w = toFloat32(layer.W);
  let W: Float32Array;
  if (layer.pairing === 'keras') {
    W = new Float32Array(w.length); // (D_mul, ipg, C_out) -> (C_out, ipg, D_mul)
    for (let s = 0; s < dMul; s++) for (let c = 0; c < ipg; c++) for (let o = 0; o < cOut; o++) W[(o * ipg + c) * dMul + s] = w[(s * ipg + c) * cOut + o]!;
  } else W = Float32Array.from(w); // PyTorch (C_out, ipg, D_mul); Gluon (C_out, ipg, M, N) with D_mul = M*N
  if (layer.D === undefined) return { layer, W, D: undefined };
  const d = toFloat32(layer.D);
  const cIn = layer.inChannels!;
  let D: Float32Array;
  if (layer.pairing === 'pytorch') {
    D = Float32Array.from(d);
    if (layer.dDiag !== undefined) {
      const stored = toFloat32(layer.dDiag);
      const ident = identityDiag(mn, dMul);
      for (let i = 0; i < stored.length; i++) {
        if (stored[i] !== ident[i % ident.length]) {
          throw new DoconvError('BAD_ARGUMENT', `d_diag differs from the identity the ${target} reference rebuilds; the layer cannot be carried unfused`, { key: layer.name });
        }
      }
    }
  } else {
    D = new Float32Array(d.length); // (MN, D_mul, C_in) -> (C_in, MN, D_mul)
    for (let m = 0; m < mn; m++) for (let s = 0; s < dMul; s++) for (let i = 0; i < cIn; i++) D[(i * mn + m) * dMul + s] = d[(m * dMul + s) * cIn + i]!;
  }
  return { layer, W, D };
}

/** The layer's tensors in `target`'s names and layouts, in its creation order (bias left to the caller). */
export function doconvTensors(n: NeutralDoConv, target: Framework): [string, Tensor][] {
  const { outChannels: cOut, inChannelsPerGroup: ipg, dMul, kernelArea: mn, inChannels } = n.layer;
  const [M, N] = n.layer.kernel ?? [mn, 1];
  const cIn = inChannels ?? ipg;
  const kerasD = (): Float32Array => {
    const out = new Float32Array(n.D!.length);
    for (let i = 0; i < cIn; i++) for (let m = 0; m < mn; m++) for (let s = 0; s < dMul; s++) out[(m * dMul + s) * cIn + i] = n.D![(i * mn + m) * dMul + s]!;
    return out;
  };
  if (target === 'pytorch') {
    const out: [string, Tensor][] = [['W', Tensor.fromFloat32(n.W, [cOut, ipg, dMul])]];
    if (n.D !== undefined) {
      out.push(['D', Tensor.fromFloat32(n.D, [cIn, mn, dMul])]);
      const ident = identityDiag(mn, dMul);
      const diag = new Float32Array(n.D.length);
      for (let i = 0; i < diag.length; i++) diag[i] = ident[i % ident.length]!;
      out.push(['d_diag', Tensor.fromFloat32(diag, [cIn, mn, dMul])]);
    }
    return out;
  }
  if (target === 'gluon') {
    const out: [string, Tensor][] = [['weight', Tensor.fromFloat32(n.W, [cOut, ipg, M, N])]];
    if (n.D !== undefined) out.push(['D', Tensor.fromFloat32(kerasD(), [mn, mn, cIn])]);
    return out;
  }
  const kernel = new Float32Array(n.W.length); // (C_out, ipg, D_mul) -> (D_mul, ipg, C_out)
  for (let o = 0; o < cOut; o++) for (let c = 0; c < ipg; c++) for (let s = 0; s < dMul; s++) kernel[(s * ipg + c) * cOut + o] = n.W[(o * ipg + c) * dMul + s]!;
  const out: [string, Tensor][] = [['kernel', Tensor.fromFloat32(kernel, [dMul, ipg, cOut])]];
  if (n.D !== undefined) out.push(['D', Tensor.fromFloat32(kerasD(), [mn, dMul, cIn])]);
  return out;
}
