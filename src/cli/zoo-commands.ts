import { DoconvError } from '../errors.js';
import { findEntry, listEntries, loadManifest } from '../registry/manifest.js';
import { pull } from '../registry/pull.js';
import { addToRegistry } from '../registry/add.js';
import { offlineFromEnv } from '../registry/cache.js';
import { onePositional, report, type ParsedArgs } from './args.js';

/** list, info, pull and registry add: the zoo's commands. */

export async function runList(a: ParsedArgs): Promise<number> {
  if (a.positionals.length > 1) throw new DoconvError('BAD_ARGUMENT', 'list takes at most one PATTERN');
  const { manifest } = await loadManifest(a.str('registry'), a.bool('offline') || offlineFromEnv());
  const entries = listEntries(manifest, a.positionals[0]);
  if (a.json) {
    process.stdout.write(`${JSON.stringify(entries.map((e) => ({ name: e.name, family: e.architecture.family, depth: e.architecture.depth, paper: e.accuracy.paper ?? null, recorded: e.accuracy.recorded ?? null, verified: e.accuracy.verified.length, artifacts: e.artifacts.length })), null, 2)}\n`);
    return 0;
  }
  const rows = [['name', 'family', 'top-1 (paper: base +gain)', 'recorded', 'weights']];
  for (const e of entries) {
    const p = e.accuracy.paper;
    rows.push([e.name, e.architecture.family, p ? `${p.doconvTop1.toFixed(2)} (${p.baselineTop1.toFixed(2)} +${p.doconvGain.toFixed(2)})` : '-', e.accuracy.recorded ? `${e.accuracy.recorded.top1.toFixed(2)} ${e.accuracy.recorded.dataset}` : '-', e.artifacts.length > 0 ? 'yes' : 'none published']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(`${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`);
  return 0;
}

export async function runInfo(a: ParsedArgs): Promise<number> {
  const name = onePositional(a, 'network name');
  const { manifest, location } = await loadManifest(a.str('registry'), a.bool('offline') || offlineFromEnv());
  const e = findEntry(manifest, name, location);
  if (a.json) {
    process.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
    return 0;
  }
  const arch = e.architecture;
  const lines = [`${e.name}: ${e.description}`, `  architecture  ${arch.family}, ${arch.block} blocks${arch.layers ? ` [${arch.layers.join(', ')}]` : ''}${arch.groups !== undefined ? `, groups ${arch.groups}` : ''}, ${arch.numClasses} classes`, `  input         ${e.input.size.join('x')} ${e.input.layout}, mean [${e.input.mean.join(', ')}], std [${e.input.std.join(', ')}]`];
  if (e.accuracy.paper) lines.push(`  paper         top-1 ${e.accuracy.paper.doconvTop1} on ${e.accuracy.paper.dataset} (baseline ${e.accuracy.paper.baselineTop1}, DO-Conv +${e.accuracy.paper.doconvGain})`);
  if (e.accuracy.gluoncvReferenceTop1 !== undefined) lines.push(`  GluonCV ref.  top-1 ${e.accuracy.gluoncvReferenceTop1} (plain network)`);
  if (e.accuracy.recorded) lines.push(`  recorded      top-1 ${e.accuracy.recorded.top1} on ${e.accuracy.recorded.dataset} ${e.accuracy.recorded.split} (${e.accuracy.recorded.count} images, ${e.accuracy.recorded.measuredBy})`);
  for (const v of e.accuracy.verified) lines.push(`  verified      top-1 ${v.top1}%${v.correct !== undefined ? ` (${v.correct}/${v.count})` : ` of ${v.count}`} on ${v.dataset}, ${v.backend} on ${v.executionProvider ?? v.device} (${v.device}), doconv-zoo ${v.toolVersion}, ${v.date.slice(0, 10)}`);
  lines.push(e.artifacts.length > 0 ? `  artifacts     ${e.artifacts.map((x) => `${x.format} ${x.size} bytes sha256 ${x.sha256.slice(0, 12)}...`).join('; ')}` : `  artifacts     none: ${e.artifactsNote ?? ''}`);
  lines.push(`  license       ${e.license}`, `  paper         ${e.paper.title} (${e.paper.url})`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function runPull(a: ParsedArgs): Promise<number> {
  const name = onePositional(a, 'network name');
  const to = a.str('to') as 'source' | 'onnx' | 'tfjs' | undefined;
  const tty = process.stderr.isTTY && !a.quiet;
  const bar = (done: number, total: number) => {
    const width = 30;
    const f = total > 0 ? done / total : 0;
    process.stderr.write(`\r[${'#'.repeat(Math.round(f * width)).padEnd(width)}] ${(f * 100).toFixed(0).padStart(3)}% ${(done / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB`);
  };
  const result = await pull(name, {
    ...(a.has('registry') ? { registry: a.str('registry')! } : {}),
    ...(a.bool('offline') ? { offline: true } : {}),
    ...(to ? { to } : {}),
    ...(tty ? { onProgress: bar } : {}),
    onMessage: a.quiet ? () => {} : (m) => process.stderr.write(`${tty ? '\n' : ''}${m}\n`),
  });
  if (tty) process.stderr.write('\n');
  report(a, `${result.fromCache ? 'cached' : 'pulled'} ${name}: ${result.converted ?? result.path}`, result);
  return 0;
}

export async function runRegistryAdd(a: ParsedArgs): Promise<number> {
  const file = onePositional(a, 'checkpoint');
  const registry = a.str('registry')!;
  const entry = await addToRegistry(file, {
    name: a.str('name')!,
    registry,
    ...(a.has('description') ? { description: a.str('description')! } : {}),
    ...(a.has('license') ? { license: a.str('license')! } : {}),
    noCopy: a.bool('no-copy'),
  });
  report(a, `added ${entry.name} to ${registry} (${entry.artifacts[0]!.size} bytes, sha256 ${entry.artifacts[0]!.sha256})`, entry);
  return 0;
}
