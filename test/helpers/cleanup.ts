import { afterAll } from 'vitest';
import { removeTempDirs } from './paths.js';

// Runs in every test file (vitest setupFiles): its temporary folders go when its tests are done.
afterAll(() => removeTempDirs());
