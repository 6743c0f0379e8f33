/**
 * Nothing reachable from JavaScript crashes the process through the cpu addon. The raw addon is
 * called in a child process (native-safety-child.ts, so a crash fails one test, not the suite)
 * with sizes whose int64 products used to wrap to a length a short array passed (then the kernel
 * ran off the arrays: SIGSEGV), a mixture layout whose gate block ran past its end (read out of
 * bounds), every entry of every packed layout set out of range, and a seeded fuzz of layouts:
 * every call must return or throw RangeError / TypeError, and the child must exit normally. The
 * checks are native/layouts.h's, shared with the cuda addon. In process: the public layouts are
 * frozen and their `packed` is a copy, so user code cannot change what the addon receives.
 */
import assert from 'node:assert/strict';
import {
  type Backend,
  Conv2dGeometry,
  HeadLayout,
  LossLayout,
  MixtureLayout,
  Pool2dGeometry,
} from '../../ts/backends/backend.js';
import { CpuBackend } from '../../ts/backends/cpu.js';
import { Rng } from '../../ts/core/random.js';
import { BackendUnavailableError } from '../../ts/errors.js';
import { type ChildResult, runChild } from './child.js';
import type { FuzzReport, Outcome } from './native-safety-child.js';

function exitedNormally<T>(r: ChildResult<T>): T {
  assert.equal(r.ended, 'exit 0', `the child process ended with ${r.ended} during: ${r.lastStep}\n${r.stderr.slice(-2000)}`);
  return r.value!;
}

describe('cpu addon: hostile arguments never crash the process', function () {
  this.timeout(60_000);
  let cpu: Backend | null = null;

  before(function () {
    try {
      cpu = new CpuBackend({ threads: 1 });
    } catch (e) {
      if (e instanceof BackendUnavailableError && process.env.CI !== 'true') this.skip();
      throw e;
    }
  });
  after(() => cpu?.dispose());

  it('wrapped size products, a gate block past the layout, every layout entry out of range: RangeError or TypeError, never a crash', () => {
    const outcomes = exitedNormally(runChild<Outcome[]>(import.meta.url, 'native-safety-child.js', ['crafted']));
    assert.ok(outcomes.length > 200, `${outcomes.length} calls`);
    const wrong = outcomes.filter((o) => o.error !== 'RangeError' && o.error !== 'TypeError');
    assert.deepEqual(wrong, [], 'calls that did not throw RangeError or TypeError');
    for (const o of outcomes.filter((x) => x.name.includes('gate block past'))) {
      assert.doesNotMatch(o.message, /7777/, `${o.name} read past the layout: ${o.message}`);
    }
    for (const o of outcomes.filter((x) => x.name.includes('wraps'))) {
      assert.match(o.message, /overflows 64 bits|too large/, o.name);
    }
  });

  it('a seeded fuzz of packed layouts (3,000 calls over every layout-taking entry point) returns or throws RangeError / TypeError', () => {
    const report = exitedNormally(runChild<FuzzReport>(import.meta.url, 'native-safety-child.js', ['fuzz', '13', '300']));
    assert.equal(report.calls, 3000);
    assert.deepEqual(report.unexpected, []);
    // Not vacuous: most mutants are rejected, some are still consistent and run their kernel.
    assert.ok(report.outcomes.RangeError > 1500, JSON.stringify(report.outcomes));
    assert.ok(report.outcomes.returned > 10, JSON.stringify(report.outcomes));
  });

  it('layouts are frozen and `packed` is a copy: tampering through the public API changes nothing the addon sees', async () => {
    const be = cpu!;
    const geo = new Conv2dGeometry(2, 5, 5, 3, 3, 3, 1, 1);
    const layouts: object[] = [
      geo,
      new Pool2dGeometry(2, 4, 4, 2, 2),
      new HeadLayout('shared', [4, 4], [3, 2]),
      new MixtureLayout([[0, 1]], 2, 2, 64, 64),
      new LossLayout([{ kind: 'mse', outOffset: 0, outWidth: 2, tgtOffset: 0 }]),
    ];
    for (const layout of layouts) {
      const name = layout.constructor.name;
      assert.ok(Object.isFrozen(layout), `${name} is not frozen`);
      const packed = (layout as { packed: Int32Array }).packed;
      const before = Array.from(packed);
      packed.fill(2 ** 30);
      assert.deepEqual(Array.from((layout as { packed: Int32Array }).packed), before, `${name}.packed changed through a returned copy`);
      assert.throws(() => {
        (layout as Record<string, unknown>).packed = new Int32Array(before.length);
      }, TypeError);
    }
    assert.throws(() => {
      (geo as unknown as { c: number }).c = 2 ** 21;
    }, TypeError);
    // The conv still computes what its geometry says (the same bits as a fresh geometry's).
    const rng = new Rng(3);
    const x = be.upload(rng.uniformArray(2 * 50, -1, 1), [2, 2, 5, 5]);
    const w = be.upload(rng.uniformArray(54, -1, 1), [3, 2, 3, 3]);
    const run = async (g: Conv2dGeometry): Promise<Float32Array> => {
      const y = be.alloc([2, 3, 5, 5]);
      be.conv2dForward(x, w, null, y, g, 'relu');
      return be.read(y);
    };
    assert.deepEqual(await run(geo), await run(new Conv2dGeometry(2, 5, 5, 3, 3, 3, 1, 1)));
  });
});
