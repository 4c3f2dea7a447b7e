import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { buildOnnxModel } from '../emit/onnx.js';

/**
 * Whether an onnxruntime execution provider starts here, found out in a child process whose stderr
 * is captured. The providers' native libraries write to file descriptor 2 directly, past every log
 * level onnxruntime offers (Dawn's "Couldn't load Vulkan", the Vulkan loader's and Mesa's
 * XDG_RUNTIME_DIR complaints): JavaScript cannot redirect its own fd 2, so the failing attempt is
 * made where that noise can be kept, and shown only when verbose.
 */
export interface ProbeResult {
  ok: boolean;
  /** onnxruntime's error when the provider did not start. */
  message?: string;
}

/** A provider that has not answered in this long is taken as not starting (CUDA's first init is slow). */
export const PROBE_TIMEOUT_MS = 60_000;

const probes = new Map<string, Promise<ProbeResult>>();

// Run with `node --input-type=module -e`: argv is [node, onnxruntime's URL, model base64, provider].
const CHILD = `
const [url, model, provider] = process.argv.slice(1);
const m = await import(url);
const ort = m.InferenceSession ? m : m.default;
let result;
try {
  const session = await ort.InferenceSession.create(Buffer.from(model, 'base64'), { executionProviders: [provider], logSeverityLevel: 4 });
  await session.release();
  result = { ok: true };
} catch (err) {
  result = { ok: false, message: String(err && err.message ? err.message : err) };
}
process.stdout.write(JSON.stringify(result));
`;

/** The smallest model a provider must take: one Relu on a [batch, 1, 1, 1] input. */
function probeModel(): string {
  const graph = { input: 'input', output: 'relu', inputShape: [1, 1, 1] as [number, number, number], nodes: [{ name: 'relu', inputs: ['input'], output: 'relu', op: { kind: 'Relu' as const } }] };
  return Buffer.from(buildOnnxModel(graph).toBytes()).toString('base64');
}

/** Probes `provider` once per process; `verbose` passes the child's stderr through. */
export function probeProvider(provider: string, verbose: boolean): Promise<ProbeResult> {
  let p = probes.get(provider);
  if (p === undefined) {
    p = runProbe(provider, verbose);
    probes.set(provider, p);
  }
  return p;
}

function runProbe(provider: string, verbose: boolean): Promise<ProbeResult> {
  let url: string;
  try {
    url = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-node')).href;
  } catch (err) {
    return Promise.resolve({ ok: false, message: `onnxruntime-node is not installed (${(err as Error).message.split('\n')[0]})` });
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, url, probeModel(), provider], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (verbose ? process.stderr.write(b) : err.push(b)));
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, message: `the provider probe could not start (${e.message})` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as ProbeResult);
      } catch {
        const why = signal === 'SIGKILL' ? `did not answer within ${PROBE_TIMEOUT_MS / 1000} s` : `ended with ${signal ?? `exit code ${code}`}`;
        const last = Buffer.concat(err).toString('utf8').replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n').pop();
        resolve({ ok: false, message: `the provider probe ${why}${last ? ` (${last})` : ''}` });
      }
    });
  });
}
