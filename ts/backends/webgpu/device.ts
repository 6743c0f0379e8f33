/**
 * Getting a WebGPU device in Node: the optional `webgpu` npm package (Dawn's Node bindings),
 * an adapter (a GPU driver with Vulkan/Metal/D3D12, or Mesa's lavapipe on the CPU) and a device
 * with the adapter's own limits. Every way this can fail ends in one BackendUnavailableError
 * that says what is missing and how to get it.
 */
import { BackendUnavailableError } from '../../errors.js';

/** Where a WebGPU device came from, for logs and benchmark records. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software adapters (lavapipe, SwiftShader): kernels pick their CPU-friendly variants. */
  cpu: boolean;
  /** Lanes of a subgroup, when the device has the `subgroups` feature and one fixed size (else 0). */
  subgroupSize: number;
}

export interface GpuDevice {
  device: GPUDevice;
  adapter: AdapterDescription;
}

interface DawnModule {
  create(flags: string[]): GPU;
}

const HOW_TO =
  'WebGPU needs an adapter: a GPU driver with Vulkan support, or Mesa\'s lavapipe on the CPU ' +
  '(Debian bookworm: add the bookworm-backports suite and `apt-get install -t bookworm-backports ' +
  'mesa-vulkan-drivers`; bookworm\'s own Mesa 22 is too old for Dawn), and XDG_RUNTIME_DIR set.';

let dawn: DawnModule | null = null;
let dawnGpu: GPU | null = null;

async function loadDawn(): Promise<DawnModule> {
  if (dawn) return dawn;
  try {
    // An optional dependency: imported by name at run time, so installs without it still work.
    const name = 'webgpu';
    dawn = (await import(name)) as DawnModule;
  } catch (e) {
    throw new BackendUnavailableError(
      `The webgpu backend needs the npm package "webgpu" (Dawn's Node bindings), which did not load: ` +
        `${(e as Error).message.split('\n')[0]}. Install it with \`npm install webgpu\`. ${HOW_TO}`,
    );
  }
  return dawn;
}

/** One Dawn instance per process (creating several is wasteful and slow). */
async function gpu(): Promise<GPU> {
  if (!dawnGpu) dawnGpu = (await loadDawn()).create([]);
  return dawnGpu;
}

function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const fixed = info.subgroupMinSize !== undefined && info.subgroupMinSize === info.subgroupMaxSize;
  const subgroupSize = adapter.features.has('subgroups') && fixed ? info.subgroupMinSize! : 0;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  const cpu = /llvmpipe|lavapipe|swiftshader|software|\bcpu\b/.test(text);
  return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, cpu, subgroupSize };
}

/** Requests the best adapter and a device with its limits; throws BackendUnavailableError when none. */
export async function requestGpuDevice(): Promise<GpuDevice> {
  if (!process.env.XDG_RUNTIME_DIR) {
    // Mesa's Vulkan WSI warns (and some drivers fail) without it; compute needs no real one.
    process.env.XDG_RUNTIME_DIR = '/tmp';
  }
  const instance = await gpu();
  let adapter: GPUAdapter | null;
  try {
    adapter = await instance.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    throw new BackendUnavailableError(`WebGPU adapter request failed: ${(e as Error).message}. ${HOW_TO}`);
  }
  if (!adapter) throw new BackendUnavailableError(`No WebGPU adapter was found. ${HOW_TO}`);
  const limits = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
    maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, 10),
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
  };
  let device: GPUDevice;
  try {
    const requiredFeatures: GPUFeatureName[] = adapter.features.has('subgroups') ? ['subgroups' as GPUFeatureName] : [];
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new BackendUnavailableError(`WebGPU device request failed: ${(e as Error).message}. ${HOW_TO}`);
  }
  return { device, adapter: describeAdapter(adapter) };
}
