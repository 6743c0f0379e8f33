/**
 * One conv2d case of conv.spec.ts's SIMD-path test, run the same way on the reference in the
 * test's process and on a CpuBackend in a child process with HYDRANET_CPU_ISA forced.
 */
import { type Backend, Conv2dGeometry } from '../../../ts/backends/backend.js';

/** One conv2d case: geometry [C, H, W, outC, k] (stride 1, no padding), batch and inputs. */
export type IsaCase = { geo: number[]; n: number; x: number[]; w: number[]; b: number[]; dy: number[] };

/** relu + bias forward, then backward (dx =, dw and db from 0), on `be`: the four results read back. */
export async function runIsaCase(be: Backend, { geo: [C, H, W, oc, k], n, x, w, b, dy }: IsaCase): Promise<Record<'y' | 'dx' | 'dw' | 'db', Float32Array>> {
  const g = new Conv2dGeometry(C, H, W, oc, k, k, 1, 0);
  const ys = [n, oc, g.outH, g.outW];
  const [xt, wt] = [be.upload(Float32Array.from(x), [n, C, H, W]), be.upload(Float32Array.from(w), [oc, C, k, k])];
  const [y, dx, dw, db] = [be.alloc(ys), be.alloc([n, C, H, W]), be.alloc([oc, C, k, k]), be.alloc([oc])];
  be.conv2dForward(xt, wt, be.upload(Float32Array.from(b), [oc]), y, g, 'relu');
  be.conv2dBackward(xt, wt, be.upload(Float32Array.from(dy), ys), dx, dw, db, g);
  return { y: await be.read(y), dx: await be.read(dx), dw: await be.read(dw), db: await be.read(db) };
}
