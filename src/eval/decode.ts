import type { RawImage } from './preprocess.js';

/**
 * Image decoders. sharp (libvips with mozjpeg, a libjpeg-turbo derivative, as Pillow uses) is the
 * default: its decoded pixels are Pillow's, bit for bit, on the photos we measured. jpeg-js is the
 * pure-JavaScript fallback for machines where sharp's prebuilt binaries do not install; it decodes
 * JPEG only, and its chroma upsampling differs from libjpeg's, so its pixels differ slightly.
 */
export type DecoderName = 'sharp' | 'jpeg-js';

export interface DecodeLimits {
  /** Refuse images with more pixels than this (decompression bombs). */
  maxPixels: number;
}

export const DEFAULT_LIMITS: DecodeLimits = { maxPixels: 100_000_000 };

export type Decoder = (bytes: Uint8Array) => Promise<RawImage>;

async function sharpDecoder(limits: DecodeLimits): Promise<Decoder> {
  const sharp = (await import('sharp')).default;
  // Parallelism comes from our worker threads; libvips threads on top of them only contend.
  sharp.concurrency(1);
  sharp.cache(false);
  return async (bytes) => {
    // ICC profiles are ignored and EXIF orientation is not applied: Pillow does neither.
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: limits.maxPixels, ignoreIcc: true, autoOrient: false })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  };
}

async function jpegJsDecoder(limits: DecodeLimits): Promise<Decoder> {
  const jpeg = (await import('jpeg-js')).default;
  return async (bytes) => {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxResolutionInMP: limits.maxPixels / 1e6, maxMemoryUsageInMB: Math.ceil((limits.maxPixels * 4) / 2 ** 20) + 64 });
    const channels = img.data.length / (img.width * img.height);
    if (!Number.isInteger(channels) || channels < 1 || channels > 4) throw new Error(`decoder returned ${img.data.length} bytes for ${img.width}x${img.height}`);
    return { width: img.width, height: img.height, channels, data: img.data };
  };
}

/** A decoder by name. */
export async function createDecoder(name: DecoderName, limits: DecodeLimits = DEFAULT_LIMITS): Promise<Decoder> {
  return name === 'sharp' ? sharpDecoder(limits) : jpegJsDecoder(limits);
}

/** The default decoder: sharp where it loads, else jpeg-js. */
export async function defaultDecoderName(): Promise<DecoderName> {
  try {
    await import('sharp');
    return 'sharp';
  } catch {
    return 'jpeg-js';
  }
}
