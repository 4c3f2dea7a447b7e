import { spawn, spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/**
 * Whether the cross-check tier can run: Debian's python3 with torch, torchvision and numpy.
 * Off CI a missing Python skips the tier; with CI=true it is a failure, never a silent skip.
 */
export function pythonTier(): { available: boolean; reason: string } {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision, numpy; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  const available = r.status === 0;
  const reason = available ? `torch ${r.stdout.trim()}` : `${PYTHON} with torch/torchvision/numpy is not usable: ${(r.stderr || String(r.error ?? '')).trim().split('\n').pop()}`;
  if (!available && process.env.CI === 'true') {
    throw new Error(`cross-check tier cannot run on CI: ${reason}. Install python3-torch python3-torchvision (see .ci/run).`);
  }
  return { available, reason };
}

export function runPython(args: string[], timeoutMs = 900_000): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The same without blocking the event loop (long runs would starve the test runner's RPC). */
export function runPythonAsync(args: string[], timeoutMs = 1_800_000): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}
