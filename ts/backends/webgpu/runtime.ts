/**
 * The machinery under the webgpu backend: storage buffers (pooled), shader modules (one .wgsl
 * file per kernel family in shaders/, compiled once and checked at start), pipelines and bind
 * groups (cached on a key of what changes them, never made per step), and the recording of
 * kernel launches.
 *
 * Launches are recorded into ONE open compute pass; nothing is submitted until something needs
 * the results (a read, a sync, a write from the host, or a full parameter ring). Each launch's
 * parameters (shapes, scalars) go into a slot of a uniform ring that is mirrored on the host and
 * written with one writeBuffer per submit, bound with a dynamic offset — so shapes are uniforms,
 * a new shape never recompiles, and a steady-state step creates no GPU object at all.
 *
 * WGSL conventions (every file in shaders/): storage bindings first, in the order the kernel
 * spec lists them, then the parameters uniform in the last binding; each entry point is a
 * kernel named `<family>_<op>`.
 */
import { TrackedTensor } from '../lifetime.js';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceLostError, KernelError, ShapeError } from '../../errors.js';
import type { Backend } from '../backend.js';
import type { AdapterDescription } from './device.js';

// WebGPU's flag constants (the `webgpu` package only defines them as globals).
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_READ = 0x1;

/** Bytes of one parameter slot (WebGPU's minUniformBufferOffsetAlignment). */
const SLOT = 256;
/** The parameter ring: this many bytes of launches are recorded before a forced submit. */
const RING = 1 << 18;
/**
 * Workgroups per dispatch dimension: WebGPU's default maxComputeWorkgroupsPerDimension, which
 * every device has (none is requested beyond it). grid() and the GEMM launcher stay within it.
 */
export const MAX_GROUPS = 65535;

/** A GPU buffer with an id, so bind-group cache keys need no object identity. */
export interface Storage {
  readonly id: number;
  readonly buffer: GPUBuffer;
  readonly bytes: number;
}

/** Anything a kernel can bind: a tensor, or a range of a runtime-owned buffer. */
export interface Bound {
  readonly storage: Storage;
  readonly offset: number;
  readonly size: number;
}

export class GpuTensor extends TrackedTensor implements Bound {
  constructor(
    readonly backend: Backend,
    readonly shape: readonly number[],
    readonly size: number,
    readonly storage: Storage,
    /** First element in the storage (a multiple of 64 for views, so bindings are aligned). */
    readonly offset: number,
    readonly base: GpuTensor | null = null,
  ) {
    super();
  }
}

/**
 * A kernel: an entry point of a shader file, with its storage bindings' access ('r' read-only,
 * 'w' read-write, in binding order) and the bytes of its parameters (a multiple of 256).
 */
export interface KernelSpec {
  readonly file: string;
  readonly entry: string;
  readonly access: string;
  readonly paramBytes?: number;
  /** Read-only bindings are rounded up to 16 bytes (the kernel reads them as vec4 arrays). */
  readonly vec4Reads?: boolean;
  /** Pipeline-overridable constants; each distinct set is its own pipeline. */
  readonly constants?: Readonly<Record<string, number>>;
}

/**
 * The kernels of one shader file, shaders/<file>.wgsl: each op's entry point `<file>_<op>` with
 * the access of its storage bindings in binding order ('r' read, 'w' written).
 */
export function family<Op extends string>(file: string, access: Record<Op, string>): Record<Op, KernelSpec> {
  const specs = {} as Record<Op, KernelSpec>;
  for (const op of Object.keys(access) as Op[]) specs[op] = { file, entry: `${file}_${op}`, access: access[op] };
  return specs;
}

/** Writes a launch's parameters: u32s first, then f32s, at consecutive 4-byte words. */
export interface Params {
  u?: ArrayLike<number>;
  f?: ArrayLike<number>;
}

const SHADER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shaders');

export class GpuRuntime {
  private nextStorageId = 1;
  /** Free buffers by byte size. */
  private readonly pool = new Map<number, Storage[]>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly uniforms: GPUBuffer;
  private readonly ring = new ArrayBuffer(RING);
  private readonly ringU32 = new Uint32Array(this.ring);
  private readonly ringF32 = new Float32Array(this.ring);
  private ringUsed = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Kernels recorded since the last submit, for error messages. */
  private readonly recorded = new Set<string>();
  /** Free MAP_READ staging buffers by byte size. */
  private readonly staging = new Map<number, GPUBuffer[]>();
  /** Dummy buffers bound where an optional tensor is absent (one per binding slot: no aliasing). */
  private readonly dummies: Storage[] = [];
  private pendingError: Error | null = null;
  /**
   * Four words a kernel sets when it finds bad data on the device (a class index out of range):
   * word 0 = the claiming kernel's code (1 multiLoss, 2 embedding) once claimed, then
   * kernel-specific words. Checked by every read and sync once a kernel that may set it has run,
   * and turned into an error by the explainer armed for that code (`statusErrors`).
   */
  readonly status: Bound;
  private statusArmed = false;
  private readonly statusErrors = new Map<number, (words: Uint32Array) => Error>();
  private lost: string | null = null;
  private readonly onUncapturedError = (ev: Event): void => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    this.fail(new KernelError(`WebGPU error in one of [${[...this.recorded].join(', ') || 'no kernel'}]: ${err.message}`));
  };
  /**
   * The largest tensor, in bytes: kernels bind every tensor whole, so it must fit one storage
   * binding (maxStorageBufferBindingSize) and, with a read's status words, one buffer.
   */
  readonly maxTensorBytes: number;
  /** Completion of each submit not yet seen done, oldest first (see throttle). */
  private readonly pending: Promise<void>[] = [];
  /** Counters, for tests and benchmarks. */
  readonly stats = { submits: 0, launches: 0, pipelines: 0, bindGroups: 0, buffers: 0, reads: 0 };
  /** Bytes of every buffer this runtime created (pooled, staging and uniform ones included). */
  deviceBytes = 0;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
  ) {
    const limits = device.limits;
    this.maxTensorBytes = Math.floor(Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize - SLOT) / SLOT) * SLOT;
    this.uniforms = this.createBuffer({ label: 'hydranet params ring', size: RING, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    const statusBuffer = this.createBuffer({ label: 'hydranet status', size: SLOT, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    this.status = { storage: { id: this.nextStorageId++, buffer: statusBuffer, bytes: SLOT }, offset: 0, size: 4 };
    void device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lost = `${info.reason}: ${info.message}`;
    });
    device.addEventListener('uncapturederror', this.onUncapturedError);
  }

  /** Compiles every shader file and throws KernelError with the file, line and message of the first error. */
  async compileShaders(): Promise<void> {
    for (const file of readdirSync(SHADER_DIR).filter((f) => f.endsWith('.wgsl')).sort()) {
      const code = loadShader(file);
      // A variant that needs subgroups is left out where the device has none (its launcher
      // then picks another variant).
      if (/^enable subgroups;/m.test(code) && !this.device.features.has('subgroups')) continue;
      this.modules.set(file.replace(/\.wgsl$/, ''), await this.compileModule(file, code));
    }
  }

  /** One shader module; a compilation error becomes a KernelError "shaders/<file>:<line>:<col>: message". */
  async compileModule(file: string, code: string): Promise<GPUShaderModule> {
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: file, code });
    const info = await module.getCompilationInfo();
    await this.device.popErrorScope(); // the same error, already in the compilation messages
    const m = info.messages.find((x) => x.type === 'error');
    if (m) {
      // Lines count in the source after //#include expansion; quote the line so it can be found.
      const line = code.split('\n')[m.lineNum - 1]?.trim() ?? '';
      throw new KernelError(`shaders/${file}:${m.lineNum}:${m.linePos}: ${m.message}${line ? ` (at: ${line})` : ''}`);
    }
    return module;
  }

  // ---- errors -----------------------------------------------------------------------------
  private fail(e: Error): void {
    if (!this.pendingError) this.pendingError = e;
  }

  /** Throws a lost device or an error captured since the last check. */
  check(): void {
    if (this.lost) throw new DeviceLostError(`The WebGPU device was lost (${this.lost}); create a new backend`);
    const e = this.pendingError;
    if (e) {
      this.pendingError = null;
      throw e;
    }
  }

  /** A kernel that may set `status` with word 0 = `code` was recorded; `explain` turns the status words into the error. */
  armStatus(explain: (words: Uint32Array) => Error, code = 1): void {
    this.statusArmed = true;
    this.statusErrors.set(code, explain);
  }

  /** Throws (once) the error a kernel reported through `status`, and clears it. */
  private checkStatus(words: Uint32Array): void {
    if (words[0] === 0) return;
    const e = this.statusErrors.get(words[0])?.(words) ?? new KernelError('a kernel reported bad data');
    this.device.queue.writeBuffer(this.status.storage.buffer, 0, new Uint32Array(4));
    throw e;
  }

  // ---- storage ----------------------------------------------------------------------------
  /** Every buffer of this runtime is created here, so that deviceBytes counts it. */
  private createBuffer(desc: GPUBufferDescriptor): GPUBuffer {
    this.deviceBytes += desc.size;
    return this.device.createBuffer(desc);
  }

  /**
   * A buffer of at least `bytes` (rounded up to 256): from the pool (then NOT zeroed) or new
   * (zeroed). Every tensor's storage comes from here, so this is where a size this device cannot
   * bind is refused, with ShapeError naming `what` and the limit, before anything is created.
   */
  acquire(bytes: number, what: string): { storage: Storage; fresh: boolean } {
    if (!(bytes <= this.maxTensorBytes)) {
      const l = this.device.limits;
      throw new ShapeError(
        `Cannot allocate ${what}: ${bytes} bytes, but this WebGPU device binds at most ${this.maxTensorBytes} bytes ` +
          `per tensor (kernels bind a tensor whole; maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, ` +
          `maxBufferSize ${l.maxBufferSize})`,
      );
    }
    const size = Math.max(SLOT, Math.ceil(bytes / SLOT) * SLOT);
    const free = this.pool.get(size);
    if (free && free.length > 0) return { storage: free.pop()!, fresh: false };
    this.stats.buffers++;
    const buffer = this.createBuffer({ size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    return { storage: { id: this.nextStorageId++, buffer, bytes: size }, fresh: true };
  }

  release(s: Storage): void {
    let free = this.pool.get(s.bytes);
    if (!free) this.pool.set(s.bytes, (free = []));
    free.push(s);
  }

  /**
   * A buffer holding `data`, through the queue like `write` (a pooled buffer may still be read
   * by launches recorded before its free). Never mappedAtCreation: Dawn's Node bindings
   * (webgpu 0.6.2) crash the process (SIGSEGV at destroy or exit) after mapping a buffer of
   * 2 GiB or more at creation.
   */
  upload(data: Float32Array, what: string): Storage {
    const { storage } = this.acquire(data.byteLength, what);
    this.write({ storage, offset: 0, size: data.length }, data, 0);
    return storage;
  }

  /** Host → device, ordered after every launch recorded so far. */
  write(t: Bound, data: Float32Array, offset: number): void {
    this.submit();
    this.device.queue.writeBuffer(t.storage.buffer, (t.offset + offset) * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Device → host: copies `t` (and the status words, when armed) through a pooled staging buffer into `into`. */
  async read(t: Bound, into: Float32Array): Promise<Float32Array> {
    this.check();
    const bytes = t.size * 4;
    const withStatus = this.statusArmed;
    const statusAt = Math.ceil(bytes / 16) * 16;
    const size = withStatus ? statusAt + 16 : bytes;
    const free = this.staging.get(size);
    const staging = free && free.length > 0 ? free.pop()! : this.newStaging(size);
    const encoder = this.openEncoder();
    this.endPass();
    encoder.copyBufferToBuffer(t.storage.buffer, t.offset * 4, staging, 0, bytes);
    if (withStatus) encoder.copyBufferToBuffer(this.status.storage.buffer, 0, staging, statusAt, 16);
    this.recorded.add('read');
    this.submit();
    this.stats.reads++;
    try {
      await staging.mapAsync(MAP_READ, 0, size);
    } catch (e) {
      this.check();
      throw new KernelError(`reading a tensor back failed: ${(e as Error).message}`);
    }
    const mapped = staging.getMappedRange(0, size);
    into.set(new Float32Array(mapped, 0, t.size));
    const words = withStatus ? new Uint32Array(mapped.slice(statusAt, statusAt + 16)) : null;
    staging.unmap();
    let pool = this.staging.get(size);
    if (!pool) this.staging.set(size, (pool = []));
    pool.push(staging);
    this.check();
    if (words) this.checkStatus(words);
    return into;
  }

  private newStaging(size: number): GPUBuffer {
    this.stats.buffers++;
    return this.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  }

  /** Submits still running on the device (their completion not yet seen). */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Waits until at most `keep` submits are still running (the oldest finish first). */
  async throttle(keep: number): Promise<void> {
    while (this.pending.length > keep) await this.pending.shift();
    this.check();
  }

  /** Submits what is recorded and waits until the device has done all of it. */
  async sync(): Promise<void> {
    if (this.statusArmed) {
      // Reading the status words waits for everything submitted before them.
      await this.read(this.status, new Float32Array(4));
      return;
    }
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  // ---- recording --------------------------------------------------------------------------
  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.openEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submits everything recorded (and the parameters it uses) as one command buffer. */
  submit(): void {
    if (!this.encoder) return;
    this.check();
    this.endPass();
    if (this.ringUsed > 0) this.device.queue.writeBuffer(this.uniforms, 0, this.ring, 0, this.ringUsed);
    const kernels = [...this.recorded].join(', ');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([this.encoder.finish()]);
    void this.device.popErrorScope().then((err) => {
      if (err) this.fail(new KernelError(`WebGPU validation failed in one of [${kernels}]: ${err.message}`));
    });
    this.encoder = null;
    this.ringUsed = 0;
    this.recorded.clear();
    this.stats.submits++;
    const done = this.device.queue.onSubmittedWorkDone();
    this.pending.push(done);
    void done.then(() => {
      if (this.pending[0] === done) this.pending.shift();
    }, () => {});
  }

  private layout(access: string, paramBytes: number): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    const key = `${access}/${paramBytes}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [...access].map((a, i) => ({
        binding: i,
        visibility: 4 /* COMPUTE */,
        buffer: { type: a === 'w' ? 'storage' : 'read-only-storage' },
      }));
      entries.push({ binding: access.length, visibility: 4, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: paramBytes } });
      const group = this.device.createBindGroupLayout({ label: key, entries });
      l = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
      this.layouts.set(key, l);
    }
    return l;
  }

  private pipeline(k: KernelSpec, paramBytes: number): { pipeline: GPUComputePipeline; key: string } {
    const key = k.constants ? `${k.file}.${k.entry}${JSON.stringify(k.constants)}` : `${k.file}.${k.entry}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.modules.get(k.file);
      if (!module) throw new KernelError(`no shader file shaders/${k.file}.wgsl for kernel ${k.entry}`);
      this.device.pushErrorScope('validation');
      p = this.device.createComputePipeline({
        label: key,
        layout: this.layout(k.access, paramBytes).pipeline,
        compute: { module, entryPoint: k.entry, constants: k.constants as Record<string, number> | undefined },
      });
      void this.device.popErrorScope().then((err) => {
        if (err) this.fail(new KernelError(`kernel ${key}: pipeline creation failed: ${err.message}`));
      });
      this.pipelines.set(key, p);
      this.stats.pipelines++;
    }
    return { pipeline: p, key };
  }

  private dummy(slot: number): Storage {
    while (this.dummies.length <= slot) {
      this.dummies.push({ id: this.nextStorageId++, buffer: this.createBuffer({ size: SLOT, usage: USAGE.STORAGE }), bytes: SLOT });
    }
    return this.dummies[slot];
  }

  /**
   * Records one launch of `k` over `groups` workgroups. `tensors` match k.access (null binds a
   * dummy: the kernel must not touch it, a parameter says so). A tensor written by the kernel
   * must not overlap any other binding (WebGPU forbids it): kernels that allow aliasing have
   * in-place variants, chosen by the backend before it gets here.
   */
  launch(k: KernelSpec, tensors: readonly (Bound | null)[], params: Params, groups: readonly [number, number?, number?]): void {
    if (tensors.length !== k.access.length) throw new Error(`internal: ${k.entry} takes ${k.access.length} tensors, got ${tensors.length}`);
    const paramBytes = k.paramBytes ?? SLOT;
    const { pipeline, key } = this.pipeline(k, paramBytes);
    let bgKey = key;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      bgKey += t ? `|${t.storage.id}:${t.offset}:${t.size}` : `|d${i}`;
    }
    let bg = this.bindGroups.get(bgKey);
    if (!bg) {
      this.checkAliasing(k, tensors);
      const entries: GPUBindGroupEntry[] = tensors.map((t, i) => ({
        binding: i,
        resource: t
          ? { buffer: t.storage.buffer, offset: t.offset * 4, size: k.vec4Reads && k.access[i] === 'r' ? Math.ceil(t.size / 4) * 16 : t.size * 4 }
          : { buffer: this.dummy(i).buffer, offset: 0, size: SLOT },
      }));
      entries.push({ binding: tensors.length, resource: { buffer: this.uniforms, offset: 0, size: paramBytes } });
      if (this.bindGroups.size >= 8192) this.bindGroups.clear();
      bg = this.device.createBindGroup({ label: bgKey, layout: this.layout(k.access, paramBytes).group, entries });
      this.bindGroups.set(bgKey, bg);
      this.stats.bindGroups++;
    }
    if (this.ringUsed + paramBytes > RING) this.submit();
    const slot = this.ringUsed;
    const base = slot / 4;
    const u = params.u ?? [];
    const f = params.f ?? [];
    if ((u.length + f.length) * 4 > paramBytes) throw new Error(`internal: ${k.entry} parameters exceed ${paramBytes} bytes`);
    for (let i = 0; i < u.length; i++) this.ringU32[base + i] = u[i];
    for (let i = 0; i < f.length; i++) this.ringF32[base + u.length + i] = f[i];
    this.ringUsed += paramBytes;
    const pass = this.openPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg, [slot]);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    this.recorded.add(key);
    this.stats.launches++;
  }

  private checkAliasing(k: KernelSpec, tensors: readonly (Bound | null)[]): void {
    for (let i = 0; i < tensors.length; i++) {
      const a = tensors[i];
      if (!a || k.access[i] !== 'w') continue;
      for (let j = 0; j < tensors.length; j++) {
        const b = tensors[j];
        if (j === i || !b || b.storage !== a.storage) continue;
        if (a.offset < b.offset + b.size && b.offset < a.offset + a.size) {
          throw new ShapeError(`${k.entry}: an output overlaps another argument (binding ${i} and ${j}); pass distinct tensors`);
        }
      }
    }
  }

  /**
   * Destroys the device (and with it every buffer) and drops every GPU object this runtime
   * holds, so that a backend kept referenced after dispose keeps none alive. The
   * uncapturederror listener goes first: Dawn's bindings keep a device's listeners alive after
   * destroy(), and through this one the runtime with every shader module, pipeline and buffer
   * (about 6.5 MiB of RSS per create/dispose cycle on lavapipe before).
   */
  dispose(): void {
    this.device.removeEventListener('uncapturederror', this.onUncapturedError);
    this.encoder = null;
    this.pass = null;
    for (const m of [this.pool, this.staging, this.modules, this.layouts, this.pipelines, this.bindGroups]) m.clear();
    this.dummies.length = 0;
    this.pending.length = 0;
    this.recorded.clear();
    this.device.destroy();
  }
}

/** Whether two bindings are the same range of the same buffer (an in-place call). */
export function sameRange(a: Bound, b: Bound): boolean {
  return a.storage === b.storage && a.offset === b.offset && a.size === b.size;
}

/**
 * A shader file's WGSL with its `//#include name.wgsl` lines replaced by shaders/include/name.wgsl
 * (WGSL has no includes; the shared pieces — activations, NaN tests, hashes — live once). An
 * included file may include others; each is pasted once, where it is first named.
 */
export function loadShader(file: string): string {
  const pasted = new Set<string>();
  const expand = (code: string): string =>
    code.replace(/^\/\/#include ([\w.-]+)$/gm, (_, name: string) => {
      if (pasted.has(name)) return '';
      pasted.add(name);
      return expand(readFileSync(path.join(SHADER_DIR, 'include', name), 'utf8'));
    });
  return expand(readFileSync(path.join(SHADER_DIR, file), 'utf8'));
}

/** Workgroups for `n` items at `perGroup` items each, split over x and y (each ≤ MAX_GROUPS). */
export function grid(n: number, perGroup: number): [number, number] {
  const groups = Math.max(1, Math.ceil(n / perGroup));
  if (groups <= MAX_GROUPS) return [groups, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y];
}
