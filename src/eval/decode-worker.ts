// A decoding thread of the eval pipeline: reads an image file, decodes it, resizes and crops it
// as torchvision does, normalises it, and hands back the float32 tensor (transferred, not copied).
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { createDecoder, type DecoderName } from './decode.js';
import { preprocessInto, type PreprocessSpec } from './preprocess.js';

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

async function readBounded(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > config.maxFileBytes) throw new Error(`file of ${size} bytes is larger than the ${config.maxFileBytes} allowed`);
    if (size === 0) throw new Error('empty file');
    const buf = new Uint8Array(size);
    const { bytesRead } = await fh.read(buf, 0, size, 0);
    if (bytesRead !== size) throw new Error(`read ${bytesRead} of ${size} bytes`);
    return buf;
  } finally {
    await fh.close();
  }
}

parentPort!.on('message', (task: DecodeTask) => {
  void (async () => {
    try {
      const image = await decode(await readBounded(join(config.root, task.file)));
      const out = new Float32Array(values);
      preprocessInto(image, config.spec, out, 0);
      parentPort!.postMessage({ id: task.id, data: out } satisfies DecodeReply, [out.buffer]);
    } catch (err) {
      parentPort!.postMessage({ id: task.id, error: (err as Error).message.split('\n')[0] ?? String(err) } satisfies DecodeReply);
    }
  })();
});
parentPort!.postMessage({ ready: true });
