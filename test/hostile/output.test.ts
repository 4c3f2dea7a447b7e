import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapeControl } from '../../src/errors.js';
import { CLI, ROOT, runCli, tempDir } from '../helpers/paths.js';

// Issue 12, items 7, 8, 18 (output paths), 19 (escaping) and 20 (signals): where convert writes,
// and what it never replaces.

const EXAMPLE = join(ROOT, 'examples', 'doconv_resnet20_cifar.pth');

function expectOneLineError(r: { status: number; stderr: string }, ...needles: string[]): void {
  expect(r.status).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^doconv-zoo: error: /);
  for (const n of needles) expect(lines[0]).toContain(n);
}

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
}

describe('item 7: -o never replaces something that is not a regular file', () => {
  it('a FIFO at the output path is refused and stays a FIFO (no hang, nothing written)', () => {
    const dir = tempDir();
    const fifo = join(dir, 'out.pth');
    mkfifo(fifo);
    const r = runCli(['convert', EXAMPLE, '-o', fifo], 30_000);
    expectOneLineError(r, fifo, 'FIFO');
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(dir)).toEqual(['out.pth']);
  });

  it('a link to /dev/null is refused: the device is never replaced, nor the link', () => {
    const dir = tempDir();
    const link = join(dir, 'null.onnx');
    symlinkSync('/dev/null', link);
    const r = runCli(['convert', EXAMPLE, '-o', link], 30_000);
    expectOneLineError(r, 'character device');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(lstatSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('/dev/stdout as -o is refused (use -o -), a socket too', async () => {
    const dir = tempDir();
    const sock = join(dir, 'out.npz');
    const server = createServer();
    await new Promise<void>((res) => server.listen(sock, () => res()));
    try {
      expectOneLineError(runCli(['convert', EXAMPLE, '-o', sock], 30_000), 'socket');
      expect(lstatSync(sock).isSocket()).toBe(true);
    } finally {
      server.close();
    }
    const r = spawnSync(process.execPath, [CLI, 'convert', EXAMPLE, '-o', '/dev/stdout', '--to', 'pth'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a folder at a single-file output path is refused', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'x.pth'));
    expectOneLineError(runCli(['convert', EXAMPLE, '-o', join(dir, 'x.pth')], 30_000), 'a folder');
  });

  it('-o - writes the complete file to standard output (the same bytes as a file) and the summary to stderr', () => {
    const dir = tempDir();
    const file = join(dir, 'fused.safetensors');
    expect(runCli(['convert', EXAMPLE, '-o', file]).status).toBe(0);
    const r = spawnSync(process.execPath, [CLI, 'convert', EXAMPLE, '-o', '-', '--to', 'safetensors', '--json'], { timeout: 60_000, maxBuffer: 64 << 20 });
    expect(r.status).toBe(0);
    const onFile = readFileSync(file);
    // The header records the source path only; the tensor bytes and layout are identical.
    expect(r.stdout.byteLength).toBe(onFile.byteLength);
    expect(Buffer.compare(r.stdout.subarray(-1_000_000), onFile.subarray(-1_000_000))).toBe(0);
    const summary = JSON.parse(r.stderr.toString('utf8')) as { output: string; bytesOut: number };
    expect(summary.output).toBe('-');
    expect(summary.bytesOut).toBe(onFile.byteLength);
  });

  it('-o - without --to, and a TensorFlow.js folder to -, are one-line errors', () => {
    expectOneLineError(runCli(['convert', EXAMPLE, '-o', '-']), '--to');
    expectOneLineError(runCli(['convert', EXAMPLE, '-o', '-', '--to', 'tfjs']), 'folder');
  });
});

describe('item 8: a TensorFlow.js output folder is replaced only when it is exactly an earlier model', () => {
  it('a folder holding model.json beside other files (a web app) is left alone, naming the first other file', () => {
    const dir = tempDir();
    const app = join(dir, 'src');
    mkdirSync(app);
    writeFileSync(join(app, 'model.json'), '{"weightsManifest":[{"paths":["group1-shard1of1.bin"],"weights":[]}]}');
    writeFileSync(join(app, 'group1-shard1of1.bin'), 'x');
    writeFileSync(join(app, 'index.js'), 'console.log(1)');
    const r = runCli(['convert', EXAMPLE, '-o', app, '--to', 'tfjs'], 60_000);
    expectOneLineError(r, 'index.js');
    expect(readdirSync(app).sort()).toEqual(['group1-shard1of1.bin', 'index.js', 'model.json']);
    expect(readFileSync(join(app, 'index.js'), 'utf8')).toBe('console.log(1)');
  });

  it('a subfolder inside makes it not a model folder', () => {
    const dir = tempDir();
    const out = join(dir, 'web');
    mkdirSync(join(out, 'assets'), { recursive: true });
    writeFileSync(join(out, 'model.json'), '{}');
    expectOneLineError(runCli(['convert', EXAMPLE, '-o', out, '--to', 'tfjs'], 60_000), 'assets');
    expect(existsSync(join(out, 'assets'))).toBe(true);
  });

  it('an earlier model folder is replaced, and nothing is left beside it', () => {
    const dir = tempDir();
    const out = join(dir, 'web_model');
    expect(runCli(['convert', EXAMPLE, '-o', out, '--to', 'tfjs'], 60_000).status).toBe(0);
    const first = readdirSync(out).sort();
    const r = runCli(['convert', EXAMPLE, '-o', out, '--to', 'tfjs', '--quantize', 'float16'], 60_000);
    expect(r.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(first);
    expect(JSON.stringify(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')))).toContain('float16');
    expect(readdirSync(dir)).toEqual(['web_model']);
  });
});

describe('item 18: output paths that cannot be created are one line, exit 1', () => {
  it('-o below a regular file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file.txt'), 'x');
    expectOneLineError(runCli(['convert', EXAMPLE, '-o', join(dir, 'file.txt', 'sub', 'out.pth')]), 'not a folder');
  });

  it('-o in a missing folder of a read-only file system', () => {
    expectOneLineError(runCli(['convert', EXAMPLE, '-o', '/proc/doconv-zoo-missing/out.pth']), 'cannot create the folder');
    expectOneLineError(runCli(['convert', EXAMPLE, '-o', '/proc/doconv-zoo-missing/web', '--to', 'tfjs'], 60_000), 'cannot create the folder');
  });
});

describe('item 18: a cache folder that cannot be created', () => {
  it('DOCONV_ZOO_CACHE under /proc: exit 1, one line (Node\'s recursive mkdir would loop forever there)', () => {
    const r = spawnSync(process.execPath, [CLI, 'pull', 'doconv_mnist_sample'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, DOCONV_ZOO_CACHE: '/proc/doconv-zoo-missing/cache' },
    });
    expectOneLineError({ status: r.status ?? -1, stderr: r.stderr }, 'cannot create the folder');
  });
});

describe('item 19: names from the input never reach the terminal raw', () => {
  it('control characters and terminal escapes are written as visible escapes', () => {
    expect(escapeControl('a\nb\x1b[31mc\r\u202e\u0085')).toBe('a\\nb\\x1b[31mc\\r\\u202e\\x85');
  });

  it('a path with a newline and an ANSI colour gives one line without the escape byte', () => {
    const r = runCli(['inspect', `missing\n\x1b[31mred.pth`]);
    expectOneLineError(r, 'missing\\n\\x1b[31mred.pth');
    expect(r.stderr).not.toContain('\x1b');
  });
});

describe('item 20: a signal during a write leaves no temporary file', () => {
  it('SIGTERM while an output is being written: exit 143, the output complete, no .tmp- file left', () => {
    const dir = tempDir();
    const script = `
      import { writeFileAtomic, writeAll } from ${JSON.stringify(join(ROOT, 'dist', 'emit', 'atomic.js'))};
      writeFileAtomic(${JSON.stringify(join(dir, 'out.bin'))}, (fd) => {
        writeAll(fd, new Uint8Array(1 << 20));
        process.kill(process.pid, 'SIGTERM');
        // Without a handler the kernel ends the process here, with the temporary file on disk.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
        writeAll(fd, new Uint8Array(1 << 20));
      });
      // The handler runs once the synchronous write is done: the output is complete, then the exit.
      setTimeout(() => process.exit(0), 5000);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(143);
    expect(readdirSync(dir)).toEqual(['out.bin']);
    expect(lstatSync(join(dir, 'out.bin')).size).toBe(2 << 20);
  });
});
