/**
 * MPI from Node: the loader of hydranet_mpi.node (native/mpi, built where an MPI is found) and
 * {@link MpiWorld}, the world communicator that data-parallel training runs on. Processes are
 * started by `mpirun -np N node …`; a process started without mpirun is a world of one.
 *
 * Every collective works in place on host memory: a Float32Array / Float64Array, or a backend
 * tensor (a cpu or reference tensor IS host memory and is reduced without a copy; a GPU tensor is
 * read into a host buffer, reduced and written back). Every call has a timeout (default 5
 * minutes, `timeoutMs` of {@link MpiWorld.init}): a rank that died or hangs makes the others
 * fail with {@link CommunicationError} instead of waiting forever (Open MPI's mpirun usually
 * ends the whole job first when a rank dies).
 */
import path from 'node:path';
import { HostTensor } from '../backends/host.js';
import type { Backend, Tensor } from '../backends/backend.js';
import { type AddonLocation, packageRoot, tryLoadAddon } from '../backends/native.js';
import { BackendUnavailableError, ConfigError, describe } from '../errors.js';

/**
 * A collective failed: a rank died, hung past the timeout, or MPI reported an error. The job
 * cannot go on (MPI cannot cancel a collective); {@link MpiWorld.abort} ends every rank. A
 * BackendUnavailableError (as a lost device is): `hydranet` exits with status 7.
 */
export class CommunicationError extends BackendUnavailableError {}

/** The functions of hydranet_mpi.node (native/mpi/mpi_addon.cc). @internal */
export interface MpiAddon {
  init(): { rank: number; size: number; threadLevel: number; library: string };
  finalize(): void;
  rank(): number;
  size(): number;
  allreduceSum(array: Float32Array | Float64Array, timeoutMs: number): void;
  broadcast(array: Float32Array | Float64Array | Uint8Array, root: number, timeoutMs: number): void;
  allgather(send: Float64Array, recv: Float64Array, timeoutMs: number): void;
  barrier(timeoutMs: number): void;
  iallreduceStart(array: Float32Array | Float64Array): number;
  wait(handle: number, timeoutMs: number): void;
  test(handle: number): boolean;
  abort(code: number): never;
}

/** Where hydranet_mpi.node is looked for: the cmake-js build, then the package's prebuilds. @internal */
export function mpiAddonLocations(root: string = packageRoot()): AddonLocation[] {
  const file = 'hydranet_mpi.node';
  return [
    { file: path.join(root, 'build', 'Release', file), origin: 'cmake-js' },
    { file: path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, file), origin: 'prebuilt' },
  ];
}

let cached: MpiAddon | null = null;

/**
 * Loads hydranet_mpi.node once (from the package's root, or from `root`), or throws
 * BackendUnavailableError listing where it was looked for, why each failed, and how to build it.
 * @internal
 */
export function loadMpiAddon(root?: string): MpiAddon {
  if (cached && root === undefined) return cached;
  const result = tryLoadAddon<MpiAddon>(mpiAddonLocations(root), ['init', 'allreduceSum', 'iallreduceStart']);
  if (!result.ok) {
    throw new BackendUnavailableError(
      'Distributed training needs hydranet_mpi.node, which could not be loaded. Tried:\n' +
        result.failures.map((f) => `  - ${f}\n`).join('') +
        'It is built by `npm run build:native` (`npm rebuild hydranet` in a project that depends on hydranet) when an MPI ' +
        'is installed (Debian/Ubuntu: `apt-get install libopenmpi-dev openmpi-bin`); HYDRANET_MPI=ON makes the build fail ' +
        'loudly when it finds none. Without it, train in one process (leave out --distributed).',
    );
  }
  if (root === undefined) cached = result.addon;
  return result.addon;
}

/** Whether hydranet_mpi.node loads here (never throws). */
export function mpiAvailable(): boolean {
  try {
    loadMpiAddon();
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link MpiWorld.init}. Unknown keys are ConfigErrors. */
export interface MpiWorldOptions {
  /** How long one collective may wait for the other ranks, in ms (default 300000; 0: forever). */
  timeoutMs?: number;
}

/** An all-reduce in flight ({@link MpiWorld.startSum}); {@link MpiWorld.finish} waits for it. */
export interface PendingSum {
  /** The addon's handle. */
  readonly handle: number;
  /** What is reduced, for messages. */
  readonly what: string;
}

/** The MPI world communicator (MPI_COMM_WORLD): this process's rank, the world size and the collectives. */
export class MpiWorld {
  /** How long one collective may wait, in ms (0: forever). */
  readonly timeoutMs: number;
  /** Host buffers for tensors that are not host memory (GPU backends), by size. */
  private readonly staging = new Map<number, Float32Array>();

  private constructor(
    private readonly addon: MpiAddon,
    /** This process's rank, 0 … size − 1. */
    readonly rank: number,
    /** The number of processes. */
    readonly size: number,
    /** The MPI library's version string. */
    readonly library: string,
    timeoutMs: number,
  ) {
    this.timeoutMs = timeoutMs;
  }

  /**
   * Initialises MPI in this process (once; later calls give the same world).
   * @throws BackendUnavailableError when hydranet_mpi.node is not built; CommunicationError when MPI fails to start.
   */
  static init(options: MpiWorldOptions = {}): MpiWorld {
    if (typeof options !== 'object' || options === null) throw new ConfigError(`Expected MPI options but received ${describe(options)}`);
    for (const key of Object.keys(options)) if (key !== 'timeoutMs') throw new ConfigError(`unknown MPI option "${key}"; known: timeoutMs`);
    const timeout = options.timeoutMs ?? 300_000;
    if (!(Number.isFinite(timeout) && timeout >= 0)) throw new ConfigError(`Expected a number of ms ≥ 0 for timeoutMs but received ${describe(timeout)}`);
    const addon = loadMpiAddon();
    const info = call(() => addon.init(), 'MPI initialisation');
    return new MpiWorld(addon, info.rank, info.size, info.library, timeout);
  }

  /** The host memory of `t` (a cpu/reference tensor's own array), or null for a GPU tensor. */
  private static hostMemory(t: Tensor): Float32Array | null {
    return t instanceof HostTensor ? t.data : null;
  }

  /** Sums `array` over every rank, in place. */
  sum(array: Float32Array | Float64Array, what = 'values'): void {
    call(() => this.addon.allreduceSum(array, this.timeoutMs), `the all-reduce of ${what}`, this.rank);
  }

  /** Averages `array` over every rank, in place. */
  average(array: Float32Array | Float64Array, what = 'values'): void {
    if (this.size === 1) return;
    this.sum(array, what);
    const inv = 1 / this.size;
    for (let i = 0; i < array.length; i++) array[i] *= inv;
  }

  /**
   * Averages a backend tensor over every rank, in place: host tensors without a copy, others
   * read into a host buffer (kept for the next call of that size) and written back.
   */
  async averageTensor(be: Backend, t: Tensor, what: string): Promise<void> {
    if (this.size === 1) return;
    const host = MpiWorld.hostMemory(t);
    if (host) return this.average(host, what);
    const buf = this.stagingFor(t.size);
    await be.read(t, buf);
    this.average(buf, what);
    be.write(t, buf);
  }

  /** Copies rank `root`'s `array` into every rank's, in place. */
  broadcast(array: Float32Array | Float64Array | Uint8Array, root = 0, what = 'values'): void {
    call(() => this.addon.broadcast(array, root, this.timeoutMs), `the broadcast of ${what} from rank ${root}`, this.rank);
  }

  /** Copies rank `root`'s tensor into every rank's (as {@link averageTensor}, host tensors in place). */
  async broadcastTensor(be: Backend, t: Tensor, what: string, root = 0): Promise<void> {
    if (this.size === 1) return;
    const host = MpiWorld.hostMemory(t);
    if (host) return this.broadcast(host, root, what);
    const buf = this.stagingFor(t.size);
    await be.read(t, buf);
    this.broadcast(buf, root, what);
    be.write(t, buf);
  }

  /** Rank `root`'s JSON-serialisable value, on every rank (others pass anything, e.g. null). */
  broadcastJson<T>(value: T, root = 0, what = 'a value'): T {
    if (this.size === 1) return value;
    const bytes = this.rank === root ? new TextEncoder().encode(JSON.stringify(value)) : new Uint8Array(0);
    const length = new Float64Array([bytes.length]);
    this.broadcast(length, root, `the length of ${what}`);
    const buf = this.rank === root ? bytes : new Uint8Array(length[0]);
    this.broadcast(buf, root, what);
    return this.rank === root ? value : (JSON.parse(new TextDecoder().decode(buf)) as T);
  }

  /** Every rank's `values` (all the same length), rank by rank: [size][values.length]. */
  allgather(values: readonly number[], what = 'values'): number[][] {
    const send = Float64Array.from(values);
    const recv = new Float64Array(send.length * this.size);
    this.allgatherInto(send, recv, what);
    return Array.from({ length: this.size }, (_, r) => Array.from(recv.subarray(r * send.length, (r + 1) * send.length)));
  }

  /** Every rank's `send` (all the same length) into `recv` (size·send.length), rank by rank: no allocation. */
  allgatherInto(send: Float64Array, recv: Float64Array, what = 'values'): void {
    call(() => this.addon.allgather(send, recv, this.timeoutMs), `the all-gather of ${what}`, this.rank);
  }

  /** Waits until every rank has called it. */
  barrier(): void {
    call(() => this.addon.barrier(this.timeoutMs), 'a barrier', this.rank);
  }

  /** Starts summing `array` over every rank in place (MPI_Iallreduce); {@link finish} waits for it. The array must not be touched until then. */
  startSum(array: Float32Array | Float64Array, what = 'values'): PendingSum {
    return { handle: call(() => this.addon.iallreduceStart(array), `starting the all-reduce of ${what}`, this.rank), what };
  }

  /**
   * One MPI_Test of an all-reduce that {@link startSum} started: whether it is done. Open MPI
   * progresses a non-blocking collective only inside MPI calls, so calling this between pieces
   * of other work (the layers of a backward pass) moves it on; {@link finish} is still needed.
   */
  poll(p: PendingSum): boolean {
    return call(() => this.addon.test(p.handle), `the all-reduce of ${p.what}`, this.rank);
  }

  /** Waits for an all-reduce that {@link startSum} started. */
  finish(p: PendingSum): void {
    call(() => this.addon.wait(p.handle, this.timeoutMs), `the all-reduce of ${p.what}`, this.rank);
  }

  /** Ends every process of the job (MPI_Abort) with exit code `code` (1 … 255). */
  abort(code = 1): never {
    return this.addon.abort(code);
  }

  /** Shuts MPI down in this process (at the end of a run; MPI cannot be started again). */
  finalize(): void {
    call(() => this.addon.finalize(), 'MPI finalisation', this.rank);
  }

  private stagingFor(n: number): Float32Array {
    let b = this.staging.get(n);
    if (!b) this.staging.set(n, (b = new Float32Array(n)));
    return b;
  }
}

/** Runs an addon call; its Error (MPI's message, or the timeout) becomes a CommunicationError. */
function call<T>(f: () => T, what: string, rank?: number): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw e;
    const where = rank === undefined ? '' : ` on rank ${rank}`;
    throw new CommunicationError(`MPI: ${what}${where} failed: ${(e as Error).message}`);
  }
}
