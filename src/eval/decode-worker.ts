// A decoding thread of the eval pipeline: reads an image file, decodes it, resizes and crops it
// as torchvision does, normalises it, and hands back the float32 tensor (transferred, not copied).
// It takes one image at a time (the pool sends the next when this one is answered), so the pool's
// per-image clock measures this image's work alone.
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { DoconvError } from '../errors.js';
import { createDecoder, type DecoderName } from './decode.js';
import { preprocessInto, type PreprocessSpec, type ResizeScratch } from './preprocess.js';
import { readRegularFile } from '../formats/regular-file.js';

export interface DecodeWorkerData {
  root: string;
  decoder: DecoderName;
  spec: PreprocessSpec;
  maxFileBytes: number;
  maxPixels: number;
  /** Seconds one image may take; sharp stops itself after it (rounded up to whole seconds). */
  seconds: number;
}

export interface DecodeTask {
  id: number;
  file: string;
}

export type DecodeReply = { id: number; data: Float32Array } | { id: number; error: string };

const config = workerData as DecodeWorkerData;

const decode = await createDecoder(config.decoder, { maxPixels: config.maxPixels, seconds: config.seconds });
const values = config.spec.crop * config.spec.crop * config.spec.channels;
const scratch: ResizeScratch = {};

/** Why an image failed, in one line (the file is named by the caller, so a DoconvError's reason alone). */
function reasonOf(err: unknown): string {
  const text = err instanceof DoconvError ? err.reason : err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

parentPort!.on('message', (task: DecodeTask) => {
  void (async () => {
    try {
      // Regular files only, never more than maxFileBytes: a FIFO or a device is refused unopened.
      const image = await decode(readRegularFile(join(config.root, task.file), config.maxFileBytes));
      const out = new Float32Array(values);
      preprocessInto(image, config.spec, out, 0, scratch);
      parentPort!.postMessage({ id: task.id, data: out } satisfies DecodeReply, [out.buffer]);
    } catch (err) {
      parentPort!.postMessage({ id: task.id, error: reasonOf(err) } satisfies DecodeReply);
    }
  })();
});
parentPort!.postMessage({ ready: true });
