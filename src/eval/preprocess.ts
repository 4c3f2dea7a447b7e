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

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter over [0, inSize). */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const taps = new Int32Array(outSize * ksize);
  const weights = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
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
      taps[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
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
  const h = coefficients(width, outW);
  const v = coefficients(height, outH);
  // Rows of the source the kept output rows read (Pillow reads ybox_first..ybox_last of all rows,
  // but a row outside the kept ones only feeds output rows that the crop drops).
  const rowFirst = needV ? v.bounds[top * 2]! : top;
  const rowLast = needV ? v.bounds[(top + crop - 1) * 2]! + v.bounds[(top + crop - 1) * 2 + 1]! : top + crop;
  const tempRows = rowLast - rowFirst;
  // Horizontal pass over the rows needed, only for the kept columns.
  const temp = take(scratch, 'temp', tempRows * crop * c);
  if (needH) {
    const { ksize, bounds, taps } = h;
    const half = 1 << (PRECISION_BITS - 1);
    for (let y = 0; y < tempRows; y++) {
      const src = (y + rowFirst) * width * c;
      let dst = y * crop * c;
      for (let xo = 0; xo < crop; xo++) {
        const xx = xo + left;
        const n = bounds[xx * 2 + 1]!;
        const kb = xx * ksize;
        let p = src + bounds[xx * 2]! * c;
        if (c === 3) {
          // one pass over the taps for the three channels
          let s0 = half;
          let s1 = half;
          let s2 = half;
          for (let x = 0; x < n; x++, p += 3) {
            const k = taps[kb + x]!;
            s0 = (s0 + data[p]! * k) | 0;
            s1 = (s1 + data[p + 1]! * k) | 0;
            s2 = (s2 + data[p + 2]! * k) | 0;
          }
          temp[dst++] = clip8(s0);
          temp[dst++] = clip8(s1);
          temp[dst++] = clip8(s2);
        } else {
          for (let ch = 0; ch < c; ch++) {
            let acc = half;
            for (let x = 0, q = p + ch; x < n; x++, q += c) acc += data[q]! * taps[kb + x]!;
            temp[dst++] = clip8(acc);
          }
        }
      }
    }
  } else {
    for (let y = 0; y < tempRows; y++) temp.set(data.subarray(((y + rowFirst) * width + left) * c, ((y + rowFirst) * width + left + crop) * c), y * crop * c);
  }
  if (!needV) return { width: crop, height: crop, channels: c, data: temp };
  const out = take(scratch, 'out', crop * crop * c);
  const { ksize, bounds, taps } = v;
  const half = 1 << (PRECISION_BITS - 1);
  const rowLen = crop * c;
  const acc = new Int32Array(rowLen);
  for (let yo = 0; yo < crop; yo++) {
    const yy = yo + top;
    const ymin = bounds[yy * 2]! - rowFirst;
    const n = bounds[yy * 2 + 1]!;
    const kb = yy * ksize;
    acc.fill(half);
    // Row by row: sequential reads, one multiply-add per byte (sums stay below 2^31: 255 * 2^22 + 2^21).
    for (let y = 0; y < n; y++) {
      const k = taps[kb + y]!;
      const row = (ymin + y) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] = (acc[i]! + temp[row + i]! * k) | 0;
    }
    const dst = yo * rowLen;
    for (let i = 0; i < rowLen; i++) out[dst + i] = clip8(acc[i]!);
  }
  return { width: crop, height: crop, channels: c, data: out };
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
