// A preload for `npm run soak -- --probe`: loaded into the api and the worker with `--import`, it appends one
// JSON line a second to $ONCELY_MEMORY_PROBE: the process's memory as Node sees it (rss, V8's heap, external
// and array buffers), and, every `ONCELY_MEMORY_PROBE_GC_EVERY` seconds (default 5) when the process runs
// with --expose-gc, the heap used right after a full collection: the figure that grows when something leaks,
// whatever V8's heap sizing does to RSS. It touches nothing else in the process.
import { appendFileSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';

const file = process.env['ONCELY_MEMORY_PROBE'];
const gcEvery = Number(process.env['ONCELY_MEMORY_PROBE_GC_EVERY'] ?? '5');
const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Resident memory by kind of mapping, from /proc/self/smaps: glibc's main heap (`[heap]`), files (the node
 * binary, libraries), and anonymous mappings (V8's pages, other malloc arenas, thread stacks).
 */
function residentByMapping(): Record<string, number> {
  const totals = { 'smaps:heap': 0, 'smaps:file': 0, 'smaps:anon': 0 };
  let kind: keyof typeof totals = 'smaps:anon';
  try {
    for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
        const name = line.split(/\s+/)[5] ?? '';
        kind = name === '[heap]' ? 'smaps:heap' : name.startsWith('/') ? 'smaps:file' : 'smaps:anon';
      } else if (line.startsWith('Rss:')) {
        totals[kind] += Number(line.split(/\s+/)[1]) * 1024;
      }
    }
  } catch {
    // not Linux
  }
  return totals;
}

if (file) {
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    const line: Record<string, number> = { t: Date.now() };
    if (gc && gcEvery > 0 && tick % gcEvery === 0) {
      gc();
      line['heapAfterGc'] = process.memoryUsage().heapUsed;
    }
    const usage = process.memoryUsage();
    const heap = v8.getHeapStatistics();
    Object.assign(line, {
      rss: usage.rss,
      heapTotal: usage.heapTotal,
      heapUsed: usage.heapUsed,
      external: usage.external,
      arrayBuffers: usage.arrayBuffers,
      mallocedMemory: heap.malloced_memory,
      peakMallocedMemory: heap.peak_malloced_memory,
    });
    Object.assign(line, residentByMapping());
    for (const space of v8.getHeapSpaceStatistics()) line[`space:${space.space_name}`] = space.space_size;
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, 1000);
  timer.unref();
}
