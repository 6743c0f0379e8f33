/**
 * NCCL for data-parallel training on the cuda backend: the gradients are all-reduced in device
 * memory, on hydranet's CUDA stream (after the backward kernels, before the optimizer's, with
 * no host round trip), instead of being read back for MPI. The collectives are entries of
 * hydranet_cuda.node (native/cuda/nccl.cc), which loads libnccl.so.2 at run time: the addon
 * builds and loads without NCCL, and only {@link NcclComm.init} fails where it is missing. The
 * communicator's unique id is made by rank 0 and broadcast to the other ranks over MPI.
 *
 * NCCL runs one rank per GPU: each process of `mpirun -np N` uses its device 0, so give each
 * its own GPU (CUDA_VISIBLE_DEVICES per rank, e.g. through the launcher's local rank).
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { type CudaAddon, CudaTensor, loadCudaAddon } from '../backends/cuda.js';
import { BackendUnavailableError } from '../errors.js';
import { CommunicationError, type MpiWorld } from './mpi.js';

/** A device range as the cuda addon takes it. */
type Range = [number, number, number];

/** The NCCL entries of hydranet_cuda.node (native/cuda/nccl.cc). @internal */
export interface NcclAddon {
  ncclVersion(): number;
  ncclUniqueId(): Uint8Array;
  ncclInit(id: Uint8Array, rank: number, size: number): void;
  ncclAllReduce(x: Range, average: boolean): void;
  ncclBroadcast(x: Range, root: number): void;
  ncclDestroy(): void;
}

/** ncclAvg (the average all-reduce) needs NCCL 2.10: ncclGetVersion's 2·10000 + 10·100. */
const MIN_VERSION = 21000;

/** The NCCL communicator of the world's ranks, on the cuda backend's stream. */
export class NcclComm {
  private constructor(
    private readonly addon: NcclAddon,
    /** This process's rank (the MPI rank). */
    readonly rank: number,
    /** The number of ranks. */
    readonly size: number,
  ) {}

  /**
   * Makes the communicator of every rank of `world` (a collective: every rank calls it): every
   * rank loads NCCL and the ranks all-gather its version (so that a rank without NCCL makes
   * every rank fail alike, naming it, instead of leaving the others in NCCL's start-up, which
   * has no timeout); rank 0 makes NCCL's unique id, MPI broadcasts it, every rank joins.
   * @throws BackendUnavailableError when `backend` is not cuda, or NCCL (2.10 or later) or the
   *   cuda addon cannot be loaded on some rank (saying which and what to install);
   *   CommunicationError when NCCL fails to start.
   */
  static init(world: MpiWorld, backend: Backend): NcclComm {
    if (backend.name !== 'cuda') throw new BackendUnavailableError(`NCCL all-reduces cuda tensors; this model runs on the ${backend.name} backend`);
    const addon = loadCudaAddon() as CudaAddon & Partial<NcclAddon>;
    if (typeof addon.ncclInit !== 'function' || typeof addon.ncclVersion !== 'function') {
      throw new BackendUnavailableError('this hydranet_cuda.node predates NCCL support (native/cuda/nccl.cc): rebuild it with `npm run build:native`');
    }
    const nccl = addon as CudaAddon & NcclAddon;
    let version = 0;
    let why = '';
    try {
      version = nccl.ncclVersion();
    } catch (e) {
      why = (e as Error).message;
    }
    const versions = world.allgather([version], "the ranks' NCCL versions").map((v) => v[0]);
    const lacking = versions.flatMap((v, r) => (v < MIN_VERSION ? [`rank ${r} (${v === 0 ? 'no NCCL' : `NCCL ${v}`})`] : []));
    if (lacking.length > 0) {
      throw new BackendUnavailableError(
        `NCCL 2.10 or later is needed on every rank for data-parallel training on cuda; missing on ${lacking.join(', ')}` +
          (why ? `. On this rank: ${why}` : ''),
      );
    }
    // Rank 0's failure to make the id must reach the others before they wait in NCCL: the id's
    // first byte travels as a flag.
    const id = new Uint8Array(129);
    let failure: Error | null = null;
    if (world.rank === 0) {
      try {
        id.set(nccl.ncclUniqueId(), 1);
        id[0] = 1;
      } catch (e) {
        failure = e as Error;
      }
    }
    world.broadcast(id, 0, "NCCL's unique id");
    if (failure) throw ncclError(failure, 'making the unique id', world.rank);
    if (id[0] !== 1) throw new CommunicationError(`NCCL: rank 0 could not make the unique id (see its error); rank ${world.rank} stops too`);
    try {
      nccl.ncclInit(id.subarray(1), world.rank, world.size);
    } catch (e) {
      throw ncclError(e as Error, 'joining the communicator', world.rank);
    }
    return new NcclComm(nccl, world.rank, world.size);
  }

  /** Averages (or with `average` false sums) a cuda tensor over the ranks, in place, enqueued on the stream. */
  allReduce(t: Tensor, average = true): void {
    this.run(() => this.addon.ncclAllReduce(range(t), average), 'the all-reduce');
  }

  /** Copies rank `root`'s cuda tensor into every rank's, in place, enqueued on the stream. */
  broadcast(t: Tensor, root = 0): void {
    this.run(() => this.addon.ncclBroadcast(range(t), root), `the broadcast from rank ${root}`);
  }

  /** Ends the communicator (after the stream's work is done). */
  destroy(): void {
    this.run(() => this.addon.ncclDestroy(), 'destroying the communicator');
  }

  private run(f: () => void, what: string): void {
    try {
      f();
    } catch (e) {
      if (e instanceof TypeError || e instanceof RangeError) throw e;
      throw ncclError(e as Error, what, this.rank);
    }
  }
}

/** The device range of a cuda tensor (TypeError for another backend's). */
function range(t: Tensor): Range {
  if (!(t instanceof CudaTensor)) throw new TypeError('NCCL all-reduces cuda tensors only');
  return t.range;
}

/** An NCCL failure: BackendUnavailableError when NCCL is not there, else CommunicationError. */
function ncclError(e: Error, what: string, rank: number): Error {
  const message = `NCCL: ${what} on rank ${rank} failed: ${e.message}`;
  return /libnccl\.so\.2/.test(e.message) ? new BackendUnavailableError(message) : new CommunicationError(message);
}
