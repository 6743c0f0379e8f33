/**
 * Child process of native-safety.spec.ts: calls the raw cpu addon (build/Release/hydranet_cpu.node,
 * loaded as ts/backends/native.ts loads it) with hostile arguments and prints what each call did
 * as one JSON value. Before every call it writes the call's name to stderr, so when native code
 * crashes the process the parent can name the call that did it.
 *   node native-safety-child.js crafted [FILTER]  → Outcome[]: sizes whose products wrapped,
 *                                                    gate blocks read past the layout, and every
 *                                                    entry of each packed layout set out of range
 *                                                    (only the calls whose name holds FILTER)
 *   node native-safety-child.js fuzz SEED CALLS   → FuzzReport: CALLS seeded random layouts per
 *                                                    entry point (mutations of valid ones)
 */
import { Conv2dGeometry, HeadLayout, LossLayout, MixtureLayout, Pool2dGeometry } from '../../ts/backends/backend.js';
import { loadCpuAddon } from '../../ts/backends/native.js';
import { Rng } from '../../ts/core/random.js';

export interface Outcome {
  name: string;
  /** The error's name ('RangeError', 'TypeError', ...), or '' when the call returned. */
  error: string;
  message: string;
}

export interface FuzzReport {
  calls: number;
  /** Calls per outcome: 'returned', 'RangeError', 'TypeError', or any other error name. */
  outcomes: Record<string, number>;
  /** Calls that threw something other than a RangeError or TypeError. */
  unexpected: Outcome[];
}

const addon = loadCpuAddon();
const f32 = (n: number): Float32Array => new Float32Array(n);
const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

function attempt(name: string, call: () => unknown): Outcome {
  process.stderr.write(`${name}\n`);
  try {
    call();
    return { name, error: '', message: '' };
  } catch (e) {
    return { name, error: (e as Error).name, message: (e as Error).message };
  }
}

/** A call of one layout-taking entry point, with arrays sized for `base` at batch `n`. */
interface Entry {
  name: string;
  base: Int32Array;
  n: number;
  call: (layout: Int32Array, n: number) => unknown;
}

function entries(): Entry[] {
  const heads = new HeadLayout('shared', [4, 4], [3, 2]);
  const stacked = new HeadLayout('stacked', [3, 3], [2, 2], 64);
  const loss = new LossLayout([
    { kind: 'softmax-ce', outOffset: 0, outWidth: 3, tgtOffset: 0 },
    { kind: 'bce', outOffset: 3, outWidth: 2, tgtOffset: 1 },
    { kind: 'mse', outOffset: 5, outWidth: 1, tgtOffset: 3 },
  ]);
  const mixture = new MixtureLayout([[0, 1], [1, 2]], 3, 2, 64, 64);
  const conv = new Conv2dGeometry(2, 5, 5, 3, 3, 3, 1, 1);
  const pool = new Pool2dGeometry(2, 4, 6, 2, 2);
  const targets = Float32Array.from([0, 1, 0, 0.5, 2, 0, 1, -0.5]); // class labels 0 and 2 in column 0
  return [
    { name: 'headsForward', base: heads.packed, n: 2, call: (L, n) => addon.headsForward(L, f32(8), f32(20), f32(5), f32(10), n, 1, 1) },
    {
      name: 'headsBackward',
      base: heads.packed,
      n: 2,
      call: (L, n) => addon.headsBackward(L, f32(8), f32(20), f32(10), f32(8), f32(20), f32(5), f32(16), n, 1),
    },
    { name: 'headsForward (stacked)', base: stacked.packed, n: 2, call: (L, n) => addon.headsForward(L, f32(128), f32(12), f32(4), f32(8), n, 0, 1) },
    {
      name: 'multiLoss',
      base: loss.packed,
      n: 2,
      call: (L, n) => addon.multiLoss(L, f32(12), targets, null, f32(3), f32(3), f32(12), n, 6, 4, 1),
    },
    {
      name: 'mixtureForward',
      base: mixture.packed,
      n: 3,
      call: (L, n) => addon.mixtureForward(L, f32(192), f32(12), f32(12), f32(128), n, 1),
    },
    {
      name: 'mixtureBackward',
      base: mixture.packed,
      n: 3,
      call: (L, n) => addon.mixtureBackward(L, f32(192), f32(12), f32(128), f32(192), f32(12), n, 1),
    },
    {
      name: 'conv2dForward',
      base: conv.packed,
      n: 2,
      call: (G, n) => addon.conv2dForward(G, f32(100), f32(54), f32(3), f32(150), n, 1, 1),
    },
    {
      name: 'conv2dBackward',
      base: conv.packed,
      n: 2,
      call: (G, n) => addon.conv2dBackward(G, f32(100), f32(54), f32(150), f32(100), f32(54), f32(3), n, 1),
    },
    { name: 'maxPool2dForward', base: pool.packed, n: 2, call: (G, n) => addon.maxPool2dForward(G, f32(96), f32(24), f32(24), n, 1) },
    { name: 'maxPool2dBackward', base: pool.packed, n: 2, call: (G, n) => addon.maxPool2dBackward(G, f32(24), f32(24), f32(96), n, 1) },
  ];
}

function crafted(filter = ''): Outcome[] {
  const out: Outcome[] = [];
  const run = (name: string, call: () => unknown): void => {
    if (name.includes(filter)) out.push(attempt(name, call));
  };
  // Sizes whose int64 product is 2^64 + L: it wrapped to L, so arrays of L elements passed the
  // length checks and the kernels ran far past them (SIGSEGV). A product wrapping to exactly 0
  // was caught by accident (a 0-length array reads as null).
  // rows·plane = (2^24 + 16)·1099510579201 = 2^64 + 16.
  const rows = 2 ** 24 + 16;
  const plane = 1099510579201;
  const perRow = f32(rows);
  run('scaleChannels: rows·plane wraps to 16', () => addon.scaleChannels(f32(16), perRow, f32(16), rows, plane, 1));
  run('dropout2dForward: rows·plane wraps to 16', () => addon.dropout2dForward(f32(16), f32(16), perRow, rows, plane, 1, 8388608, 2, 1));
  // n·C·H·W = 4·5·2147418113·429509837 = 2^64 + 4 (a stride of H makes the output 1×1).
  const convWrap = Int32Array.from([5, 2147418113, 429509837, 1, 1, 1, 2147418113, 0, 1, 1]);
  run('conv2dForward: n·C·H·W wraps to 4', () => addon.conv2dForward(convWrap, f32(4), f32(5), null, f32(4), 4, 0, 1));
  run('conv2dBackward: n·C·H·W wraps to 4', () => addon.conv2dBackward(convWrap, f32(4), f32(5), f32(4), f32(4), f32(5), null, 4, 1));
  // n·C·H·W = 429509837·384773·5581·20 = 2^64 + 4 (a 1×1 pool: the output wraps alike).
  const poolWrap = Int32Array.from([384773, 5581, 20, 1, 1, 5581, 20]);
  run('maxPool2dForward: n·C·H·W wraps to 4', () => addon.maxPool2dForward(poolWrap, f32(4), f32(4), f32(4), 429509837, 1));
  run('maxPool2dBackward: n·C·H·W wraps to 4', () => addon.maxPool2dBackward(poolWrap, f32(4), f32(4), f32(4), 429509837, 1));

  // A gate block of 5 columns in a gate width of 1: its experts lie past the layout's end,
  // where the buffer holds 7777 (the parent checks that no message names it).
  const buffer = new Int32Array(64).fill(7777);
  buffer.set([1, 2, 1, 64, 64, 1, 5, 0, 0]);
  const overrun = buffer.subarray(0, 9);
  run('mixtureForward: a gate block past the gate width', () => addon.mixtureForward(overrun, f32(128), f32(1), f32(1), f32(64), 1, 1));
  run('mixtureBackward: a gate block past the gate width', () =>
    addon.mixtureBackward(overrun, f32(128), f32(1), f32(64), f32(128), f32(1), 1, 1),
  );

  // Every entry of every packed layout out of range, the layouts truncated and extended, the
  // batch out of range, and layouts of the wrong type.
  for (const e of entries()) {
    for (let i = 0; i < e.base.length; i++) {
      for (const v of [-1, INT32_MIN, INT32_MAX]) {
        const L = e.base.slice();
        L[i] = v;
        run(`${e.name}: layout[${i}] = ${v}`, () => e.call(L, e.n));
      }
    }
    run(`${e.name}: layout truncated`, () => e.call(e.base.slice(0, -1), e.n));
    run(`${e.name}: layout extended`, () => e.call(Int32Array.from([...e.base, 0]), e.n));
    run(`${e.name}: empty layout`, () => e.call(new Int32Array(0), e.n));
    run(`${e.name}: n = 2^31 − 1`, () => e.call(e.base, INT32_MAX));
    run(`${e.name}: n = 0`, () => e.call(e.base, 0));
    run(`${e.name}: layout as a Float32Array`, () => e.call(Float32Array.from(e.base) as unknown as Int32Array, e.n));
  }
  return out;
}

/** A mutation of `base`: entries set to edge or random values, truncated, extended, or all random. */
function mutate(rng: Rng, base: Int32Array): Int32Array {
  if (rng.uniform() < 0.05) return Int32Array.from({ length: rng.int(25) }, () => rng.int(80) - 8);
  let L = base.slice();
  const edits = 1 + rng.int(3);
  for (let k = 0; k < edits; k++) {
    const r = rng.uniform();
    if (r < 0.1 && L.length > 0) {
      L = L.slice(0, rng.int(L.length));
    } else if (r < 0.2) {
      L = Int32Array.from([...L, ...Array.from({ length: 1 + rng.int(4) }, () => rng.int(70) - 2)]);
    } else if (L.length > 0) {
      const i = rng.int(L.length);
      const choices = [
        () => rng.nextU32() | 0,
        () => rng.int(70) - 2,
        () => [0, -1, 1, INT32_MAX, INT32_MIN, 2 ** 30, 2 ** 16][rng.int(7)],
        () => 2 ** rng.int(31),
        () => base[Math.min(i, base.length - 1)] + (rng.int(2) ? 1 : -1),
      ];
      L[i] = choices[rng.int(choices.length)]();
    }
  }
  return L;
}

function fuzz(seed: number, calls: number): FuzzReport {
  const rng = new Rng(seed);
  const report: FuzzReport = { calls: 0, outcomes: {}, unexpected: [] };
  for (const e of entries()) {
    for (let c = 0; c < calls; c++) {
      const L = mutate(rng, e.base);
      const n = rng.uniform() < 0.8 ? e.n : [1, 1 + rng.int(8), INT32_MAX, 2 ** rng.int(31)][rng.int(4)];
      const o = attempt(`${e.name} #${c}: layout [${L.join(', ')}], n ${n}`, () => e.call(L, n));
      const kind = o.error || 'returned';
      report.outcomes[kind] = (report.outcomes[kind] ?? 0) + 1;
      if (o.error && o.error !== 'RangeError' && o.error !== 'TypeError') report.unexpected.push(o);
      report.calls++;
    }
  }
  return report;
}

const [mode, arg1, arg2] = process.argv.slice(2);
if (mode === 'crafted') {
  console.log(JSON.stringify(crafted(arg1)));
} else if (mode === 'fuzz') {
  console.log(JSON.stringify(fuzz(Number(arg1), Number(arg2))));
} else {
  console.error(`usage: native-safety-child.js crafted [FILTER] | fuzz SEED CALLS (got ${mode})`);
  process.exit(2);
}
