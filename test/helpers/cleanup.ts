import { afterAll, afterEach } from 'vitest';
import { removeTempDirs } from './paths.js';

// Runs in every test file (vitest setupFiles): its temporary folders go when its tests are done.
afterAll(() => removeTempDirs());

// Many tests run the CLI with spawnSync, which blocks the worker's event loop. Between tests
// vitest yields only to microtasks, so a file of sync tests adding up to over a minute starved its
// RPC channel ("Timeout calling onTaskUpdate", an unhandled error that fails the run). One turn of
// the event loop after each test lets the channel's messages through.
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
