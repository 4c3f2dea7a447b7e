import { homedir } from 'node:os';
import { join } from 'node:path';

/** The cache root: DOCONV_ZOO_CACHE, else $XDG_CACHE_HOME/doconv-zoo, else ~/.cache/doconv-zoo. */
export function cacheRoot(): string {
  if (process.env.DOCONV_ZOO_CACHE) return process.env.DOCONV_ZOO_CACHE;
  const xdg = process.env.XDG_CACHE_HOME && process.env.XDG_CACHE_HOME !== '' ? process.env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(xdg, 'doconv-zoo');
}

/** True when DOCONV_ZOO_OFFLINE asks never to open a socket. */
export function offlineFromEnv(): boolean {
  const v = process.env.DOCONV_ZOO_OFFLINE;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}
