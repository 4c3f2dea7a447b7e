// The README cannot drift: every ```ts / ```js block is type-checked against the built package
// and run on the bundled example, and every `$ doconv-zoo ...` line of a ```sh block is run and
// its exit code checked (0, or 1 where the README shows `doconv-zoo: error:` as its output).
// Blocks preceded by `<!-- no-run: needs ImageNet or a GPU -->` are skipped.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, tempDir } from './helpers/paths.js';

const EXAMPLE = 'examples/doconv_resnet20_cifar.pth';
const NO_RUN = '<!-- no-run: needs ImageNet or a GPU -->';

interface Block {
  lang: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
  noRun: boolean;
}

function readmeBlocks(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    let before = start - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    blocks.push({ lang: open[1]!, body: body.join('\n'), line: start + 1, noRun: before >= 0 && lines[before]!.trim() === NO_RUN });
  }
  return blocks;
}

/** Splits a shell command line into words: single and double quotes, backslash escapes, no expansion. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) {
      break;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = readmeBlocks(readme);
const codeBlocks = blocks.filter((b) => (b.lang === 'ts' || b.lang === 'js') && !b.noRun);
const shellBlocks = blocks.filter((b) => b.lang === 'sh' && !b.noRun && /^\$ doconv-zoo /m.test(b.body));

/** A working folder as a user's: the bundled example under examples/, a copy of the registry, an empty cache. */
function workFolder(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = tempDir('doconv-zoo-readme-');
  mkdirSync(join(dir, 'examples'));
  for (const f of ['doconv_resnet20_cifar.pth', 'doconv_resnet20_cifar.input.npy', 'doconv_resnet20_cifar.expected.npy']) {
    cpSync(join(ROOT, 'examples', f), join(dir, 'examples', f));
  }
  cpSync(join(ROOT, 'registry'), join(dir, 'registry'), { recursive: true });
  const env = { ...process.env, DOCONV_ZOO_CACHE: join(dir, 'cache'), DOCONV_ZOO_REGISTRY: join(dir, 'registry'), DOCONV_ZOO_OFFLINE: '' };
  return { dir, env };
}

describe('README code blocks', () => {
  it('has library examples and CLI examples to check', () => {
    expect(codeBlocks.length).toBeGreaterThanOrEqual(2);
    expect(shellBlocks.length).toBeGreaterThanOrEqual(2);
  });

  it('every ts/js block names the bundled example, type-checks against the built package and runs', () => {
    const { dir, env } = workFolder();
    const src = join(dir, 'blocks');
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(dir, 'node_modules', 'doconv-zoo'), 'dir');
    mkdirSync(src);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    const names: string[] = [];
    for (const [i, b] of codeBlocks.entries()) {
      expect(b.body, `README line ${b.line}: the block must run on ${EXAMPLE}`).toContain(EXAMPLE);
      const name = `block${i + 1}_line${b.line}`;
      writeFileSync(join(src, `${name}.${b.lang}`), `${b.body}\nexport {};\n`);
      names.push(name);
    }
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', allowJs: true, checkJs: true,
          outDir: 'out', rootDir: 'blocks', skipLibCheck: false, noUnusedLocals: false,
          types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        include: ['blocks'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr, 'tsc on the README blocks').toBe('');
    expect(tsc.status).toBe(0);
    for (const name of names) {
      const run = spawnSync(process.execPath, [join(dir, 'out', `${name}.js`)], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
      expect(run.status, `${name} exited ${run.status}: ${run.stderr}`).toBe(0);
    }
  }, 300_000);

  it('every `$ doconv-zoo` line of the sh blocks exits as the README shows', () => {
    const { dir, env } = workFolder();
    for (const b of shellBlocks) {
      const lines = b.body.split('\n');
      for (const [j, line] of lines.entries()) {
        if (!line.startsWith('$ doconv-zoo ')) continue;
        const args = shellWords(line.slice('$ doconv-zoo '.length));
        const shown = lines[j + 1] ?? '';
        const expected = shown.startsWith('doconv-zoo: error:') ? 1 : 0;
        const run = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 240_000 });
        expect(run.status, `README line ${b.line + j + 1}: ${line}\n${run.stderr}`).toBe(expected);
        if (expected === 1) expect(run.stderr.trim().split('\n')).toHaveLength(1);
      }
    }
  }, 900_000);
});

describe('the README checker itself', () => {
  it('splits shell words with quotes and stops at a comment', () => {
    expect(shellWords(`convert a.pth -o 'x y.pth' --kernel "layer1.*=3x1"  # note`)).toEqual(['convert', 'a.pth', '-o', 'x y.pth', '--kernel', 'layer1.*=3x1']);
  });
  it('finds fences and the no-run marker', () => {
    const found = readmeBlocks(`x\n${NO_RUN}\n\n\`\`\`sh\n$ doconv-zoo list\n\`\`\`\n\`\`\`ts\nlet a = 1;\n\`\`\`\n`);
    expect(found.map((b) => [b.lang, b.noRun, b.line])).toEqual([['sh', true, 4], ['ts', false, 7]]);
  });
});
