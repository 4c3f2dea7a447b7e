#!/usr/bin/env node
// Enforces docs/architecture.md's layer table: a module under src/ may import only modules of its
// own layer or of layers listed before it. Prints each violation (importer, line, imported, layers)
// and exits 1 if there is one; with --json prints {violations, files} instead.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The layer table between the layers:start/end markers: [{name, paths}] in order, lowest first. */
export function readLayers(markdown) {
  const start = markdown.indexOf('<!-- layers:start -->');
  const end = markdown.indexOf('<!-- layers:end -->');
  if (start < 0 || end < start) throw new Error('docs/architecture.md: no <!-- layers:start --> ... <!-- layers:end --> table');
  const rows = markdown.slice(start, end).split('\n').filter((l) => l.startsWith('|')).slice(2);
  return rows.map((row) => {
    const cells = row.split('|').map((c) => c.trim());
    return { name: cells[1], paths: cells[2].split(',').map((p) => p.trim()).filter(Boolean) };
  });
}

/** The layer index of a path relative to the root: the longest matching table path wins. */
export function layerOf(file, layers) {
  let best = { index: -1, length: -1 };
  layers.forEach((layer, index) => {
    for (const p of layer.paths) {
      const match = p.endsWith('/') ? file.startsWith(p) : file === p;
      if (match && p.length > best.length) best = { index, length: p.length };
    }
  });
  return best.index;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

/** Relative imports of a TypeScript source: [{spec, line}]. */
export function importsOf(source) {
  const found = [];
  for (const m of source.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith('.')) continue;
    const line = source.slice(0, m.index + m[0].indexOf(spec)).split('\n').length;
    found.push({ spec, line });
  }
  return found;
}

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

export function checkLayers(projectRoot = root) {
  const layers = readLayers(readFileSync(join(projectRoot, 'docs', 'architecture.md'), 'utf8'));
  const violations = [];
  const files = sources(join(projectRoot, 'src')).map((f) => relative(projectRoot, f).split('\\').join('/'));
  for (const file of files) {
    const from = layerOf(file, layers);
    if (from < 0) {
      violations.push({ file, line: 0, imported: '', problem: `${file} is in no layer of docs/architecture.md` });
      continue;
    }
    for (const { spec, line } of importsOf(readFileSync(join(projectRoot, file), 'utf8'))) {
      const target = relative(projectRoot, resolve(projectRoot, dirname(file), spec)).split('\\').join('/').replace(/\.js$/, '.ts');
      const to = layerOf(target, layers);
      if (to < 0) {
        violations.push({ file, line, imported: target, problem: `imports ${target}, which is in no layer` });
      } else if (to > from) {
        violations.push({ file, line, imported: target, problem: `${layers[from].name} imports ${layers[to].name} (${target})` });
      }
    }
  }
  return { violations, files: files.length, layers: layers.map((l) => l.name) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = checkLayers();
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    for (const v of result.violations) process.stderr.write(`${v.file}:${v.line}: ${v.problem}\n`);
    process.stdout.write(`check-layers: ${result.files} files, ${result.layers.length} layers (${result.layers.join(' < ')}), ${result.violations.length} violation(s)\n`);
  }
  process.exit(result.violations.length > 0 ? 1 : 0);
}
