// The evaluation harness on data and models from strangers (issue 12, item 15, and item 18's
// unreadable folders): only regular files holding a raster format torchvision's ImageFolder reads
// are decoded; FIFOs, devices, SVG and other formats are counted as failed without being opened or
// rendered; label files are read with a bound; the folder walk follows links as torchvision does but
// visits each folder once and is bounded; preprocessing sizes from a model's metadata or the flags
// are bounded; a slow image is cut off and its decoding thread replaced. Every hostile case ends in
// exit 0 with the image counted as failed, or exit 1 with one line naming the file.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDataset } from '../../src/eval/datasets.js';
import { createDecoder } from '../../src/eval/decode.js';
import { DoconvError } from '../../src/errors.js';
import { evaluate } from '../../src/runtime/eval.js';
import { tempDir } from '../helpers/paths.js';
import { digitOnnx, evalCli, expectOneLineError, greyJpeg, MNIST_SAMPLE, writeTree } from './eval-helpers.js';

/** 451 bytes of SVG whose filters make a renderer work for minutes over gigabytes. */
const SVG_FILTER_BOMB =
  '<svg xmlns="http://www.w3.org/2000/svg" width="9000" height="9000"><defs><filter id="a" x="0" y="0" width="100%" height="100%">' +
  '<feTurbulence baseFrequency="0.9" numOctaves="10" seed="7"/><feGaussianBlur stdDeviation="900"/><feMorphology operator="dilate" radius="400"/>' +
  '<feConvolveMatrix order="9" kernelMatrix="' +
  Array.from({ length: 81 }, () => '1').join(' ') +
  '"/></filter></defs><rect width="100%" height="100%" filter="url(#a)"/></svg>';
const SMALL_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="#888"/></svg>';

let jpeg: Buffer;

beforeAll(async () => {
  process.env.DOCONV_ZOO_CACHE ??= tempDir('doconv-zoo-cache-');
  jpeg = await greyJpeg();
});

/** A one-class ImageFolder tree with one good image and whatever else the test adds. */
function oneClass(extra: Record<string, Uint8Array | string> = {}): { root: string; cls: string } {
  const root = join(tempDir('doconv-eval-hostile-'), 'val');
  writeTree(root, { 'n00000000/a_ok.jpg': jpeg, ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`n00000000/${k}`, v])) });
  // One folder of a 10-class model: its index comes from a synset list found beside the data.
  writeFileSync(join(root, '..', 'synsets.txt'), Array.from({ length: 10 }, (_, i) => `n0000000${i}`).join('\n'));
  return { root, cls: join(root, 'n00000000') };
}

describe('only regular files in a raster format are decoded', () => {
  it('a FIFO named x.jpg and a link to /dev/zero named z.jpg are counted as failed, never opened: the run ends with exit 0', () => {
    const { root, cls } = oneClass();
    execFileSync('mkfifo', [join(cls, 'x.jpg')]);
    symlinkSync('/dev/zero', join(cls, 'z.jpg'));
    const r = evalCli(MNIST_SAMPLE, root, [], 60_000);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 could not be decoded/);
    expect(r.stdout).toMatch(/failed: n00000000\/x\.jpg: .*not a regular file.*FIFO/);
    expect(r.stdout).toMatch(/failed: n00000000\/z\.jpg: .*not a regular file.*device/);
  }, 90_000);

  it('SVG named .jpg (a small one, and a 451-byte filter bomb) is refused by its first bytes, never rendered', async () => {
    expect(Buffer.byteLength(SVG_FILTER_BOMB)).toBeLessThan(600);
    const { root } = oneClass({ 'b_small_svg.jpg': SMALL_SVG, 'c_bomb.jpg': SVG_FILTER_BOMB });
    const r = await evaluate(MNIST_SAMPLE, { data: root });
    expect(r.count).toBe(1);
    expect(r.failed.map((f) => f.file)).toEqual(['n00000000/b_small_svg.jpg', 'n00000000/c_bomb.jpg']);
    for (const f of r.failed) expect(f.error).toMatch(/not a JPEG, PNG, BMP, PPM\/PGM, TIFF or WebP file.*'<svg/);
  }, 60_000);

  it('sharp itself has no loader but the raster ones: SVG bytes handed to the decoder directly are refused', async () => {
    const decode = await createDecoder('sharp');
    await expect(decode(new Uint8Array(Buffer.from(SMALL_SVG)))).rejects.toThrow(/not a JPEG, PNG|blocked|unsupported/i);
  });

  it("GIF is not in torchvision's IMG_EXTENSIONS list of formats: counted as failed; a PNG named .jpg decodes (the bytes decide, as in PIL)", async () => {
    const grey = Buffer.alloc(28 * 28, 100);
    const raw = { raw: { width: 28, height: 28, channels: 1 as const } };
    const gif = await sharp(grey, raw).gif().toBuffer();
    const png = await sharp(grey, raw).png().toBuffer();
    const { root } = oneClass({ 'b_gif.jpg': gif, 'c_png.jpg': png });
    const r = await evaluate(MNIST_SAMPLE, { data: root });
    expect(r.count).toBe(2);
    expect(r.failed).toEqual([{ file: 'n00000000/b_gif.jpg', error: expect.stringMatching(/not a JPEG, PNG.*'GIF8/) }]);
  }, 60_000);
});

describe('label and synset files are read with a bound', () => {
  function flat(): string {
    const root = join(tempDir('doconv-eval-labels-'), 'val');
    writeTree(root, { 'ILSVRC2012_val_00000001.JPEG': jpeg, 'ILSVRC2012_val_00000002.JPEG': jpeg });
    return root;
  }

  it('--labels naming a FIFO, or /dev/zero, is exit 1 naming it (nothing is read from it)', () => {
    const root = flat();
    const fifo = join(root, '..', 'labels.fifo');
    execFileSync('mkfifo', [fifo]);
    expectOneLineError(evalCli(MNIST_SAMPLE, root, ['--labels', fifo], 30_000), /labels\.fifo: .*not a regular file \(a FIFO\)/);
    expectOneLineError(evalCli(MNIST_SAMPLE, root, ['--labels', '/dev/zero'], 30_000), /\/dev\/zero: .*not a regular file \(a character device\)/);
  }, 90_000);

  it('a val.txt found beside the images that links to /dev/zero, and a --synsets FIFO, are exit 1 naming them', () => {
    const root = flat();
    symlinkSync('/dev/zero', join(root, 'val.txt'));
    expectOneLineError(evalCli(MNIST_SAMPLE, root, [], 30_000), /val\.txt: .*not a regular file/);
    const classes = oneClass().root;
    const fifo = join(classes, '..', 'synsets.fifo');
    execFileSync('mkfifo', [fifo]);
    expectOneLineError(evalCli(MNIST_SAMPLE, classes, ['--synsets', fifo], 30_000), /synsets\.fifo: .*not a regular file/);
  }, 90_000);
});

describe('the folder walk follows links as torchvision does, each folder once, bounded', () => {
  it('a class folder holding a link to / ends at once and lists only the dataset (a link to an ancestor is a cycle)', () => {
    const { root, cls } = oneClass();
    symlinkSync('/', join(cls, 'slash'));
    symlinkSync(join(root, '..'), join(cls, 'parent'));
    const r = evalCli(MNIST_SAMPLE, root, ['--json'], 60_000);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ count: 1, failed: [] });
  }, 90_000);

  it("class folders that are links count as class folders (os.scandir's is_dir follows links), and links between them end", () => {
    const base = tempDir('doconv-eval-links-');
    const elsewhere = writeTree(join(base, 'elsewhere'), { 'b1.jpg': jpeg, 'b2.jpg': jpeg });
    const root = writeTree(join(base, 'val'), { 'a/a1.jpg': jpeg });
    symlinkSync(elsewhere, join(root, 'b'));
    symlinkSync(join(root, 'a'), join(elsewhere, 'back-to-a'));
    symlinkSync(elsewhere, join(elsewhere, 'self'));
    const ds = openDataset(root);
    if (ds.kind !== 'images') throw new Error('expected images');
    // as torchvision: class a's walk does not reach b; class b's walk goes into a once through the link
    expect(ds.samples).toEqual([
      { file: 'a/a1.jpg', label: 0 },
      { file: 'b/b1.jpg', label: 1 },
      { file: 'b/b2.jpg', label: 1 },
      { file: 'b/back-to-a/a1.jpg', label: 1 },
    ]);
  });

  it('a walk deeper than 64 folders, or past the entry limit, is a LIMIT_EXCEEDED error naming the folder', () => {
    const { root, cls } = oneClass();
    mkdirSync(join(cls, ...Array.from({ length: 70 }, () => 'd')), { recursive: true });
    expect(() => openDataset(root)).toThrow(/n00000000(\/d){65}: .*deeper than 64 folders/);
    try {
      openDataset(root);
    } catch (err) {
      expect(err).toBeInstanceOf(DoconvError);
      expect((err as DoconvError).code).toBe('LIMIT_EXCEEDED');
    }
    const wide = oneClass(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`img${i}.jpg`, jpeg])));
    expect(() => openDataset(wide.root, { maxEntries: 10 })).toThrow(/n00000000: .*more than 10 files and folders/);
  });

  it('an unreadable folder (its path longer than PATH_MAX, which stops root too) is exit 1 naming it', () => {
    const { root, cls } = oneClass();
    // 17 nested 250-character names: built short and renamed deepest first, so no call sees the long path
    const depth = 17;
    const long = 'L'.repeat(250);
    mkdirSync(join(cls, ...Array.from({ length: depth }, (_, i) => String(i))), { recursive: true });
    const rename = (from: string, to: string, level: number) => renameSync(join(cls, ...Array.from({ length: level }, (_, i) => String(i)), from), join(cls, ...Array.from({ length: level }, (_, i) => String(i)), to));
    for (let level = depth - 1; level >= 0; level--) rename(String(level), long, level);
    try {
      expectOneLineError(evalCli(MNIST_SAMPLE, root, [], 60_000), /n00000000(\/L{250})+: cannot read this folder: .*ENAMETOOLONG/);
    } finally {
      // back to short names, shallowest first, so that the temporary folder can be removed
      const back = (level: number) => renameSync(join(cls, ...Array.from({ length: level }, (_, i) => String(i)), long), join(cls, ...Array.from({ length: level }, (_, i) => String(i)), String(level)));
      for (let level = 0; level < depth; level++) back(level);
    }
  }, 90_000);
});

describe("preprocessing sizes from a model's metadata and from the flags are bounded", () => {
  it("crop 40000 in an ONNX model's metadata is exit 1 naming the model file and the key, before any image is decoded", async () => {
    const { root } = oneClass();
    const model = await digitOnnx(join(tempDir('doconv-eval-meta-'), 'huge-crop.onnx'), { layout: 'NCHW', mean: [0], std: [1], resize: 40000, crop: 40000 }, false);
    expectOneLineError(evalCli(model, root, [], 60_000), /huge-crop\.onnx, key 'preprocessing\.crop': .*40000 .*8\.\.4096/);
  }, 90_000);

  it('metadata values that are not sizes, means or layouts are refused naming their key', async () => {
    const { root } = oneClass();
    const dir = tempDir('doconv-eval-meta-');
    const good = { layout: 'NCHW', mean: [0], std: [1], resize: 28, crop: 28 };
    const cases: [unknown, RegExp][] = [
      [{ ...good, crop: 'ab' }, /key 'preprocessing\.crop': .*'ab'/],
      [{ ...good, crop: -28 }, /key 'preprocessing\.crop'/],
      [{ ...good, resize: 28.5 }, /key 'preprocessing\.resize'/],
      [{ ...good, resize: 1e9 }, /key 'preprocessing\.resize'/],
      [{ ...good, mean: ['x'] }, /key 'preprocessing\.mean'/],
      [{ ...good, std: [0] }, /key 'preprocessing\.std'/],
      [{ ...good, std: Array.from({ length: 100000 }, () => 1) }, /key 'preprocessing\.std'/],
      [{ ...good, layout: 'NCWH' }, /key 'preprocessing\.layout'/],
      ['a string', /key 'preprocessing': .*not an object/],
    ];
    for (const [i, [meta, pattern]] of cases.entries()) {
      const model = await digitOnnx(join(dir, `m${i}.onnx`), meta, false);
      const err = await evaluate(model, { data: root }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(meta).slice(0, 80)).toBeInstanceOf(DoconvError);
      expect((err as DoconvError).message).toMatch(pattern);
      expect((err as DoconvError).file).toBe(model);
    }
  }, 120_000);

  it('crop 2000 from the metadata of a model that takes 28x28 is refused before decoding; --crop 40000 and --resize 99999 are exit 1', async () => {
    const { root } = oneClass();
    const model = await digitOnnx(join(tempDir('doconv-eval-meta-'), 'fixed.onnx'), { layout: 'NCHW', mean: [0], std: [1], resize: 2000, crop: 2000 }, true);
    expectOneLineError(evalCli(model, root, [], 60_000), /fixed\.onnx, key 'preprocessing\.crop': .*the model takes 28x28 input/);
    expectOneLineError(evalCli(MNIST_SAMPLE, root, ['--crop', '40000'], 60_000), /--crop: .*40000.*8\.\.4096/);
    expectOneLineError(evalCli(MNIST_SAMPLE, root, ['--resize', '99999'], 60_000), /--resize: .*99999.*4096/);
  }, 120_000);

  it('a batch whose decoded tensors would pass the 512 MiB pipeline budget is refused, naming --batch', async () => {
    const { root } = oneClass();
    const model = await digitOnnx(join(tempDir('doconv-eval-meta-'), 'symbolic.onnx'), { layout: 'NCHW', mean: [0], std: [1], resize: 2048, crop: 2048 }, false);
    expectOneLineError(evalCli(model, root, ['--batch', '64'], 60_000), /--batch: .*64 images of 1x2048x2048.*512 MiB.*at most 32/);
  }, 90_000);
});

describe('a per-image time limit', () => {
  it('an image that decodes for longer than the limit is counted as failed, its thread replaced, the others decoded (jpeg-js, a synchronous decoder)', async () => {
    const big = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: { r: 90, g: 90, b: 90 } } }).jpeg().toBuffer();
    const { root } = oneClass({ 'b_slow.jpg': big, 'c_ok.jpg': jpeg, 'd_ok.jpg': jpeg });
    const r = await evaluate(MNIST_SAMPLE, { data: root, decoder: 'jpeg-js', decodeThreads: 1, imageTimeoutSeconds: 0.1 });
    expect(r.failed).toEqual([{ file: 'n00000000/b_slow.jpg', error: expect.stringMatching(/took longer than the 0\.1 s allowed per image/) }]);
    expect(r.count).toBe(3);
  }, 60_000);
});

describe('preprocessing a thin image stays within the crop', () => {
  it('a 1x4000000 image resized to 4096 (a 4096 x 16-billion resize) is cropped without computing the columns and rows the crop drops', async () => {
    const { resizeAndCrop } = await import('../../src/eval/preprocess.js');
    const data = new Uint8Array(4_000_000).fill(77);
    const out = resizeAndCrop({ width: 1, height: 4_000_000, channels: 1, data }, 4096, 8);
    expect([out.width, out.height]).toEqual([8, 8]);
    expect([...out.data]).toEqual(new Array(64).fill(77));
  });
});
