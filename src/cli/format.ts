import type { ConvertSummary } from '../convert.js';
import type { InspectReport } from '../inspect.js';

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function formatInspect(r: InspectReport, showTensors: boolean): string {
  const lines: string[] = [];
  lines.push(`${r.file}`);
  lines.push(`  format      ${r.format} (${r.framework})`);
  lines.push(`  size        ${humanBytes(r.byteSize)}, ${r.tensorCount} tensors, ${humanBytes(r.tensorBytes)} of tensor data`);
  lines.push(`  state dict  ${r.stateDict === null ? '(none found)' : r.stateDict === '' ? '(top level)' : r.stateDict}${r.dataParallel ? ", DataParallel 'module.' prefix" : ''}`);
  const a = r.architecture;
  lines.push(`  network     ${a === null ? `not recognised (${r.architectureError ?? 'unknown'})` : a.family === undefined ? a.name : `${a.name} (${a.family}, ${a.block} blocks [${(a.layers ?? []).join(', ')}], ${a.numClasses} classes)`}`);
  if (a !== null) for (const x of a.assumptions) lines.push(`  assumed     ${x}`);
  lines.push(`  DO-Conv     ${r.doconvLayers.length} layer(s)`);
  if (r.doconvLayers.length > 0) {
    const rows = [['name', 'C_in', 'C_out', 'groups', 'kernel', 'D_mul', 'bias', 'dtype']];
    for (const l of r.doconvLayers) {
      const k = l.kernel as number[] | null;
      rows.push([
        String(l.name), l.inChannels === null ? '?' : String(l.inChannels), String(l.outChannels), l.groups === null ? '?' : String(l.groups),
        k === null ? '?' : `${k[0]}x${k[1]}`, String(l.dMul), l.bias ? 'yes' : 'no', String(l.dtype),
      ]);
    }
    lines.push(table(rows).split('\n').map((s) => `    ${s}`).join('\n'));
  }
  if (showTensors) {
    lines.push('  tensors');
    lines.push(table(r.tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`])).split('\n').map((s) => `    ${s}`).join('\n'));
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

export function formatConvert(s: ConvertSummary): string {
  const lines = [
    `wrote ${s.output} (${s.to}, ${humanBytes(s.bytesOut)}) in ${s.seconds.toFixed(2)} s`,
    `  ${s.fusedLayers} DO-Conv layer(s) fused; ${s.tensorsIn} tensors in, ${s.tensorsOut} out`,
  ];
  if (s.dropped.length > 0) lines.push(`  not written (objects of classes that were never executed): ${[...new Set(s.dropped)].join(', ')}`);
  for (const n of s.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}
