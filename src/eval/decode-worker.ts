// A decoding thread of the eval pipeline: reads an image file, decodes it, resizes and crops it
// as torchvision does, normalises it, and hands back the float32 tensor (transferred, not copied).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { createDecoder, type DecoderName } from './decode.js';
import { preprocessInto, type PreprocessSpec, type ResizeScratch } from './preprocess.js';

export interface DecodeWorkerData {
  root: string;
  decoder: DecoderName;
  spec: PreprocessSpec;
  maxFileBytes: number;
  maxPixels: number;
}

export interface DecodeTask {
  id: number;
  file: string;
}

export type DecodeReply = { id: number; data: Float32Array } | { id: number; error: string };

const config = workerData as DecodeWorkerData;

const decode = await createDecoder(config.decoder, { maxPixels: config.maxPixels });
const values = config.spec.crop * config.spec.crop * config.spec.channels;

/** The file's bytes, refused beyond maxFileBytes (read synchronously: this thread has nothing else to do). */
function readBounded(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const { size } = fstatSync(fd);
    if (size > config.maxFileBytes) throw new Error(`file of ${size} bytes is larger than the ${config.maxFileBytes} allowed`);
    if (size === 0) throw new Error('empty file');
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, size - done, done);
      if (n <= 0) throw new Error(`read ${done} of ${size} bytes`);
      done += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

const scratch: ResizeScratch = {};

parentPort!.on('message', (task: DecodeTask) => {
  void (async () => {
    try {
      const image = await decode(readBounded(join(config.root, task.file)));
      const out = new Float32Array(values);
      preprocessInto(image, config.spec, out, 0, scratch);
      parentPort!.postMessage({ id: task.id, data: out } satisfies DecodeReply, [out.buffer]);
    } catch (err) {
      parentPort!.postMessage({ id: task.id, error: (err as Error).message.split('\n')[0] ?? String(err) } satisfies DecodeReply);
    }
  })();
});
parentPort!.postMessage({ ready: true });
