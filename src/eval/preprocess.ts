// Image preprocessing as torchvision's ImageNet evaluation does it on PIL images:
//   Resize(256) -> CenterCrop(224) -> ToTensor() -> Normalize(mean, std)
// The resize is a transcription of Pillow's antialiased BILINEAR resampling (libImaging/Resample.c:
// a triangle filter widened by the scale factor, coefficients normalised to 22-bit fixed point, a
// horizontal pass rounded to 8 bits, then a vertical pass), so that the pixels match PIL's exactly.
// Only the output rows and columns that survive the centre crop are computed.

/** An 8-bit interleaved image, as a decoder returns it. */
export interface RawImage {
  width: number;
  height: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA/CMYK are converted before this point); interleaved. */
  channels: number;
  data: Uint8Array;
}

export interface PreprocessSpec {
  /** Shorter side after resizing (torchvision Resize(int)). */
  resize: number;
  /** Centre crop, square. */
  crop: number;
  mean: readonly number[];
  std: readonly number[];
  layout: 'NCHW' | 'NHWC';
  /** Channels the network takes: 3 (RGB) or 1 (grey). */
  channels: number;
}

const PRECISION_BITS = 32 - 8 - 2;

/** torchvision's `_compute_resized_output_size` for an int size: [newWidth, newHeight]. */
export function resizedSize(width: number, height: number, shorter: number): [number, number] {
  if (width <= height) return [shorter, Math.trunc((shorter * height) / width)];
  return [Math.trunc((shorter * width) / height), shorter];
}

/** Python's round() (half to even) on a non-negative half-integer or integer. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's center_crop offsets: [top, left]. */
export function cropOffsets(width: number, height: number, crop: number): [number, number] {
  return [roundHalfEven((height - crop) / 2), roundHalfEven((width - crop) / 2)];
}

interface Coefficients {
  ksize: number;
  /** Per output pixel: first input index and tap count. */
  bounds: Int32Array;
  /** Fixed-point taps, ksize per output pixel. */
  taps: Int32Array;
}

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter over [0, inSize), for
 * the `count` output pixels from `from` on (those the crop keeps; index 0 of the result is `from`).
 * Only the kept range is computed: the resized size of a thin image can be enormous (a 1x100000
 * image resized to 4096 is 4096 x 409,600,000), its crop never is.
 */
function coefficients(inSize: number, outSize: number, from: number, count: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(count * 2);
  const taps = new Int32Array(count * ksize);
  const weights = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let i = 0; i < count; i++) {
    const center = (from + i + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      weights[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? weights[x]! / ww : weights[x]!;
      taps[i * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[i * 2] = xmin;
    bounds[i * 2 + 1] = xmax;
  }
  return { ksize, bounds, taps };
}

function clip8(v: number): number {
  if (v >= 1 << PRECISION_BITS << 8) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/** Buffers a caller that processes image after image can lend resizeAndCrop (its result then lives in `out`). */
export interface ResizeScratch {
  temp?: Uint8Array;
  out?: Uint8Array;
}

function take(scratch: ResizeScratch | undefined, key: 'temp' | 'out', length: number): Uint8Array {
  if (scratch === undefined) return new Uint8Array(length);
  const have = scratch[key];
  if (have !== undefined && have.length >= length) return have.subarray(0, length);
  scratch[key] = new Uint8Array(length);
  return scratch[key];
}

/**
 * Resize (shorter side to `spec.resize`, Pillow bilinear) and centre-crop to `crop` x `crop`:
 * an RGB (or grey) uint8 image, interleaved. Identical to PIL's resize followed by the crop.
 */
export function resizeAndCrop(image: RawImage, shorter: number, crop: number, scratch?: ResizeScratch): RawImage {
  const { width, height, channels: c, data } = image;
  const [outW, outH] = resizedSize(width, height, shorter);
  if (outW < crop || outH < crop) throw new RangeError(`a ${width}x${height} image resized to ${outW}x${outH} is smaller than the ${crop} crop`);
  const [top, left] = cropOffsets(outW, outH, crop);
  const needH = outW !== width;
  const needV = outH !== height;
  // Coefficients of the kept columns and rows only (index 0 is column `left`, row `top`).
  const h = coefficients(width, outW, left, crop);
  const v = coefficients(height, outH, top, crop);
  // Rows of the source the kept output rows read (Pillow reads ybox_first..ybox_last of all rows,
  // but a row outside the kept ones only feeds output rows that the crop drops).
  const rowFirst = needV ? v.bounds[0]! : top;
  const rowLast = needV ? v.bounds[(crop - 1) * 2]! + v.bounds[(crop - 1) * 2 + 1]! : top + crop;
  const tempRows = rowLast - rowFirst;
  // Horizontal pass over the rows needed, only for the kept columns.
  const temp = take(scratch, 'temp', tempRows * crop * c);
  if (needH) horizontalPass(data, width, c, rowFirst, tempRows, crop, h, temp);
  else for (let y = 0; y < tempRows; y++) temp.set(data.subarray(((y + rowFirst) * width + left) * c, ((y + rowFirst) * width + left + crop) * c), y * crop * c);
  if (!needV) return { width: crop, height: crop, channels: c, data: temp };
  const out = take(scratch, 'out', crop * crop * c);
  verticalPass(temp, crop * c, rowFirst, crop, v, out);
  return { width: crop, height: crop, channels: c, data: out };
}

const HALF = 1 << (PRECISION_BITS - 1);

/** Up to four taps per output position, padded with zero weights (the common case: downscaling by < 2). */
interface FourTaps {
  first: Int32Array;
  k0: Int32Array;
  k1: Int32Array;
  k2: Int32Array;
  k3: Int32Array;
}

function fourTaps(co: Coefficients, from: number, count: number): FourTaps | undefined {
  const first = new Int32Array(count);
  const ks = [new Int32Array(count), new Int32Array(count), new Int32Array(count), new Int32Array(count)] as const;
  for (let i = 0; i < count; i++) {
    const at = from + i;
    const n = co.bounds[at * 2 + 1]!;
    if (n > 4) return undefined;
    first[i] = co.bounds[at * 2]!;
    for (let t = 0; t < n; t++) ks[t as 0 | 1 | 2 | 3][i] = co.taps[at * co.ksize + t]!;
  }
  return { first, k0: ks[0], k1: ks[1], k2: ks[2], k3: ks[3] };
}

/** Pillow's horizontal pass for the kept columns (`co` holds theirs) of rows rowFirst.. (8-bit rounding after it). */
function horizontalPass(data: Uint8Array, width: number, c: number, rowFirst: number, rows: number, crop: number, co: Coefficients, temp: Uint8Array): void {
  const four = c === 3 ? fourTaps(co, 0, crop) : undefined;
  for (let y = 0; y < rows; y++) {
    const src = (y + rowFirst) * width * c;
    const lastPixel = src + (width - 1) * c;
    let dst = y * crop * c;
    if (four !== undefined) {
      const { first, k0, k1, k2, k3 } = four;
      for (let xo = 0; xo < crop; xo++) {
        const p = src + first[xo]! * 3;
        const w0 = k0[xo]!;
        const w1 = k1[xo]!;
        const w2 = k2[xo]!;
        const w3 = k3[xo]!;
        // taps past the row's end have zero weight; their reads stay inside the image
        const p1 = Math.min(p + 3, lastPixel);
        const p2 = Math.min(p + 6, lastPixel);
        const p3 = Math.min(p + 9, lastPixel);
        temp[dst++] = clip8((HALF + data[p]! * w0 + data[p1]! * w1 + data[p2]! * w2 + data[p3]! * w3) | 0);
        temp[dst++] = clip8((HALF + data[p + 1]! * w0 + data[p1 + 1]! * w1 + data[p2 + 1]! * w2 + data[p3 + 1]! * w3) | 0);
        temp[dst++] = clip8((HALF + data[p + 2]! * w0 + data[p1 + 2]! * w1 + data[p2 + 2]! * w2 + data[p3 + 2]! * w3) | 0);
      }
      continue;
    }
    for (let xo = 0; xo < crop; xo++) {
      const n = co.bounds[xo * 2 + 1]!;
      const kb = xo * co.ksize;
      const p = src + co.bounds[xo * 2]! * c;
      for (let ch = 0; ch < c; ch++) {
        let acc = HALF;
        for (let x = 0, q = p + ch; x < n; x++, q += c) acc = (acc + data[q]! * co.taps[kb + x]!) | 0;
        temp[dst++] = clip8(acc);
      }
    }
  }
}

/** Pillow's vertical pass for the kept rows (`co` holds theirs) over the horizontal pass's rows. */
function verticalPass(temp: Uint8Array, rowLen: number, rowFirst: number, crop: number, co: Coefficients, out: Uint8Array): void {
  const four = fourTaps(co, 0, crop);
  if (four !== undefined) {
    const { first, k0, k1, k2, k3 } = four;
    const lastRow = temp.length / rowLen - 1;
    for (let yo = 0; yo < crop; yo++) {
      const r0 = (first[yo]! - rowFirst) * rowLen;
      // rows past the end have zero weight; their reads stay inside the buffer
      const r1 = Math.min(first[yo]! - rowFirst + 1, lastRow) * rowLen;
      const r2 = Math.min(first[yo]! - rowFirst + 2, lastRow) * rowLen;
      const r3 = Math.min(first[yo]! - rowFirst + 3, lastRow) * rowLen;
      const w0 = k0[yo]!;
      const w1 = k1[yo]!;
      const w2 = k2[yo]!;
      const w3 = k3[yo]!;
      const dst = yo * rowLen;
      for (let i = 0; i < rowLen; i++) out[dst + i] = clip8((HALF + temp[r0 + i]! * w0 + temp[r1 + i]! * w1 + temp[r2 + i]! * w2 + temp[r3 + i]! * w3) | 0);
    }
    return;
  }
  const acc = new Int32Array(rowLen);
  for (let yo = 0; yo < crop; yo++) {
    const ymin = co.bounds[yo * 2]! - rowFirst;
    const n = co.bounds[yo * 2 + 1]!;
    const kb = yo * co.ksize;
    acc.fill(HALF);
    // Row by row: sequential reads, one multiply-add per byte (sums stay below 2^31: 255 * 2^22 + 2^21).
    for (let y = 0; y < n; y++) {
      const k = co.taps[kb + y]!;
      const row = (ymin + y) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] = (acc[i]! + temp[row + i]! * k) | 0;
    }
    const dst = yo * rowLen;
    for (let i = 0; i < rowLen; i++) out[dst + i] = clip8(acc[i]!);
  }
}

/** Grey to RGB (PIL's convert('RGB') copies the value) or RGB to grey (ITU-R 601-2 luma, as PIL's convert('L')). */
export function toChannels(image: RawImage, channels: number): RawImage {
  if (image.channels === channels) return image;
  const n = image.width * image.height;
  const out = new Uint8Array(n * channels);
  if (image.channels === 1 && channels === 3) {
    for (let i = 0; i < n; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = image.data[i]!;
  } else if (image.channels >= 3 && channels === 3) {
    for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) out[i * 3 + k] = image.data[i * image.channels + k]!;
  } else if (image.channels >= 3 && channels === 1) {
    // Pillow: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
    for (let i = 0; i < n; i++) {
      const p = i * image.channels;
      out[i] = (image.data[p]! * 19595 + image.data[p + 1]! * 38470 + image.data[p + 2]! * 7471 + 0x8000) >>> 16;
    }
  } else if (image.channels === 2 && channels === 3) {
    for (let i = 0; i < n; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = image.data[i * 2]!;
  } else {
    throw new RangeError(`cannot convert a ${image.channels}-channel image to ${channels} channels`);
  }
  return { ...image, channels, data: out };
}

/**
 * ToTensor + Normalize in float32, as torch computes them ((x / 255 - mean) / std, each step rounded
 * to float32), written into `out` at `offset` in the model's layout.
 */
export function normalizeInto(image: RawImage, spec: Pick<PreprocessSpec, 'mean' | 'std' | 'layout'>, out: Float32Array, offset: number): void {
  const { width, height, channels: c, data } = image;
  const n = width * height;
  const table = new Float32Array(256 * c);
  for (let ch = 0; ch < c; ch++) {
    const m = Math.fround(spec.mean[ch] ?? spec.mean[0] ?? 0);
    const s = Math.fround(spec.std[ch] ?? spec.std[0] ?? 1);
    for (let v = 0; v < 256; v++) table[ch * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  }
  if (spec.layout === 'NHWC') {
    for (let i = 0; i < n * c; i++) out[offset + i] = table[(i % c) * 256 + data[i]!]!;
  } else {
    for (let ch = 0; ch < c; ch++) {
      const base = offset + ch * n;
      const t = ch * 256;
      for (let i = 0; i < n; i++) out[base + i] = table[t + data[i * c + ch]!]!;
    }
  }
}

/** The whole chain for one decoded image, into `out` at `offset` (crop*crop*channels values). */
export function preprocessInto(image: RawImage, spec: PreprocessSpec, out: Float32Array, offset: number, scratch: ResizeScratch = {}): void {
  const rgb = toChannels(image, spec.channels);
  normalizeInto(resizeAndCrop(rgb, spec.resize, spec.crop, scratch), spec, out, offset);
}
