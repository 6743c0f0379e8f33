/**
 * NaN in, NaN out on every SIMD path of the cpu backend: native-nan-child.ts runs the
 * NaN-sensitive kernels on the path chosen at load, then with HYDRANET_CPU_ISA forced to every
 * other path this CPU supports (the parity spec's NaN cases run the best path only). A max or
 * compare-select that drops NaN (relu, the clamp inside exp behind tanh, sigmoid and gelu)
 * fails here.
 */
import assert from 'node:assert/strict';
import { runChild } from './child.js';

interface NanRun {
  isa?: string;
  supported?: Record<string, boolean>;
  missing?: string[];
  unavailable?: string;
}

/** Runs the child on `isa` (default: the path chosen at load) and checks that nothing lost its NaN. */
function run(isa?: string): NanRun {
  const r = runChild<NanRun>(import.meta.url, 'native-nan-child.js', [], isa ? { HYDRANET_CPU_ISA: isa } : {});
  assert.equal(r.ended, 'exit 0', `${isa ?? 'default path'}: ${r.stderr.slice(-2000)}`);
  const v = r.value!;
  if (v.unavailable !== undefined) return v;
  if (isa) assert.equal(v.isa, isa, 'HYDRANET_CPU_ISA was not honoured');
  assert.deepEqual(v.missing, [], `${v.isa}: elements that should be NaN`);
  return v;
}

describe('cpu backend: NaN in, NaN out on every SIMD path', function () {
  this.timeout(60_000);

  it('activations forward and backward, and the GEMM epilogue with every activation', function () {
    const best = run();
    if (best.unavailable !== undefined) {
      if (process.env.CI === 'true') assert.fail(best.unavailable);
      console.log(`      skipped: ${best.unavailable}`);
      this.skip();
    }
    for (const isa of Object.keys(best.supported!).filter((k) => best.supported![k] && k !== best.isa)) run(isa);
  });
});
