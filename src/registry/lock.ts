import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';

const STALE_MS = Number(process.env.DOCONV_ZOO_LOCK_STALE_MS ?? 30_000);
const HEARTBEAT_MS = Math.max(50, Math.floor(STALE_MS / 3));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One lock per artifact across processes: a file created exclusively, holding the owner's pid and
 * touched as a heartbeat. A lock whose owner is gone, or whose heartbeat stopped, is stale and taken
 * over. `done()` tells a waiter that the owner finished the work, so it need not take the lock.
 */
export async function withLock<T>(path: string, done: () => boolean, work: () => Promise<T>, onWait?: () => void): Promise<T | undefined> {
  let waited = false;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (fd !== undefined) {
      writeSync(fd, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
      closeSync(fd);
      const beat = setInterval(() => {
        try {
          const now = new Date();
          utimesSync(path, now, now);
        } catch {
          // the lock was taken over as stale; the download still verifies its hash
        }
      }, HEARTBEAT_MS);
      beat.unref();
      try {
        return await work();
      } finally {
        clearInterval(beat);
        rmSync(path, { force: true });
      }
    }
    if (done()) return undefined;
    if (!waited) onWait?.();
    waited = true;
    try {
      const owner = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number };
      const age = Date.now() - statSync(path).mtimeMs;
      if ((owner.pid !== undefined && owner.pid !== process.pid && !alive(owner.pid)) || age > STALE_MS) {
        rmSync(path, { force: true }); // stale: its owner died (or hung) without releasing it
        continue;
      }
    } catch {
      if (!existsSync(path)) continue; // released between our checks
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
