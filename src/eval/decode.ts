import type { RawImage } from './preprocess.js';

/**
 * Image decoders. sharp (libvips with mozjpeg, a libjpeg-turbo derivative, as Pillow uses) is the
 * default: its decoded pixels are Pillow's, bit for bit, on the photos we measured. jpeg-js is the
 * pure-JavaScript fallback for machines where sharp's prebuilt binaries do not install; it decodes
 * JPEG only, and its chroma upsampling differs from libjpeg's, so its pixels differ slightly.
 *
 * Images come from strangers: only the raster formats of torchvision's IMG_EXTENSIONS are decoded,
 * recognised by their first bytes (never by the name: an SVG named .jpg is still SVG), and sharp is
 * given no other loader at all (libvips would otherwise render SVG, PDF and more from a buffer).
 */
export type DecoderName = 'sharp' | 'jpeg-js';

/** The raster formats torchvision's ImageFolder accepts (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp). */
export type RasterFormat = 'jpeg' | 'png' | 'bmp' | 'pnm' | 'tiff' | 'webp';

export interface DecodeLimits {
  /** Refuse images with more pixels than this (decompression bombs). */
  maxPixels: number;
  /** Wall-clock seconds one image may take (sharp stops itself; the pool also cuts off a stuck thread). */
  seconds: number;
}

export const DEFAULT_LIMITS: DecodeLimits = { maxPixels: 100_000_000, seconds: 30 };

export type Decoder = (bytes: Uint8Array) => Promise<RawImage>;

function startsWith(bytes: Uint8Array, at: number, ...values: number[]): boolean {
  return values.every((v, i) => bytes[at + i] === v);
}

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** The raster format the bytes begin with, or undefined for anything else (SVG, PDF, GIF, text...). */
export function rasterFormat(bytes: Uint8Array): RasterFormat | undefined {
  if (startsWith(bytes, 0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (startsWith(bytes, 0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (startsWith(bytes, 0, ...ascii('BM'))) return 'bmp';
  if (bytes[0] === 0x50 && bytes[1]! >= 0x31 && bytes[1]! <= 0x36) return 'pnm';
  if (startsWith(bytes, 0, 0x49, 0x49, 0x2a, 0x00) || startsWith(bytes, 0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (startsWith(bytes, 0, ...ascii('RIFF')) && startsWith(bytes, 8, ...ascii('WEBP'))) return 'webp';
  return undefined;
}

/** The first bytes, printable, to say what a refused file looks like. */
function opening(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 8)].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

/** The format of bytes a decoder may be given, or an error saying what they are not. */
export function checkRaster(bytes: Uint8Array): RasterFormat {
  const format = rasterFormat(bytes);
  if (format === undefined) throw new Error(`not a JPEG, PNG, BMP, PPM/PGM, TIFF or WebP file (it starts with '${opening(bytes)}')`);
  return format;
}

/** libvips loaders sharp may use: the buffer loaders of the raster formats it has. */
const SHARP_LOADERS: Partial<Record<RasterFormat, string>> = {
  jpeg: 'VipsForeignLoadJpegBuffer',
  png: 'VipsForeignLoadPngBuffer',
  webp: 'VipsForeignLoadWebpBuffer',
  tiff: 'VipsForeignLoadTiffBuffer',
};

async function sharpDecoder(limits: DecodeLimits): Promise<Decoder> {
  const sharp = (await import('sharp')).default;
  // Parallelism comes from our worker threads; libvips threads on top of them only contend.
  sharp.concurrency(1);
  sharp.cache(false);
  // Every loader blocked, then the raster ones allowed again: SVG, PDF, ImageMagick, OpenSlide,
  // FITS, Matlab, HEIF, file loaders ... are unreachable whatever the bytes say.
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({ operation: Object.values(SHARP_LOADERS) });
  const seconds = Math.min(3600, Math.max(1, Math.ceil(limits.seconds)));
  return async (bytes) => {
    const format = checkRaster(bytes);
    if (SHARP_LOADERS[format] === undefined) throw new Error(`sharp's libvips has no ${format.toUpperCase()} loader; this image cannot be decoded here`);
    // ICC profiles are ignored and EXIF orientation is not applied: Pillow does neither.
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: limits.maxPixels, ignoreIcc: true, autoOrient: false })
      .timeout({ seconds })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  };
}

async function jpegJsDecoder(limits: DecodeLimits): Promise<Decoder> {
  const jpeg = (await import('jpeg-js')).default;
  return async (bytes) => {
    const format = checkRaster(bytes);
    if (format !== 'jpeg') throw new Error(`jpeg-js decodes JPEG only; this is ${format.toUpperCase()} (use --decoder sharp)`);
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
