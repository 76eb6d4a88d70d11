/**
 * The process-wide runtime: what binary is loaded ({@link info}) and how many
 * threads rnnkit splits its work across ({@link setThreads}).
 *
 * The thread count belongs to the whole process (like OpenBLAS's, which it
 * replaced: OpenBLAS runs on one thread per call inside rnnkit's chunks), and
 * a call should see one count from start to end (the chunks decide the order
 * in which partial sums add up). So this module counts the native calls in flight: every
 * async call of every model in this JS thread goes through {@link trackCall}
 * (lib/model.ts), and setThreads refuses with `ERR_BUSY` while the count is
 * above zero. The count lives here, per module instance, not in the binding,
 * which keeps no mutable global state.
 */
import { RnnkitError } from './errors.js';
import { native, nativePath } from './native.js';
import { integer } from './validate.js';

/**
 * The CPU as rnnkit sees it ({@link Info.cpu}): its vendor and the features
 * that choose kernels, each true only when the CPU has it and the OS saves its
 * registers (a VM can hide AVX-512).
 */
export interface CpuInfo {
  /** the CPUID vendor string, e.g. `GenuineIntel`, `AuthenticAMD`; empty off x86 */
  vendor: string;
  avx: boolean;
  avx2: boolean;
  fma: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512dq: boolean;
  avx512vl: boolean;
  /** AVX512-BF16 (Cooper Lake, Sapphire Rapids, AMD Zen 4 and later) */
  avx512bf16: boolean;
}

/**
 * The instruction-set level of rnnkit's own kernels ({@link Info.isa}):
 * `avx512` needs AVX-512 F, BW, DQ and VL; `avx2` needs AVX2 and FMA;
 * `baseline` is x86-64's SSE2 (or any other CPU).
 */
export type IsaLevel = 'avx512' | 'avx2' | 'baseline';

/**
 * Who chose OpenBLAS's kernels ({@link Info.blasCoreChosenBy}): `user` when
 * `OPENBLAS_CORETYPE` is set (always respected), `openblas` when OpenBLAS's
 * own pick was already right for the CPU's features, `rnnkit` when OpenBLAS
 * picked weaker kernels than the CPU runs and rnnkit switched them at load.
 */
export type BlasCoreChooser = 'user' | 'openblas' | 'rnnkit';

/** What {@link info} reports. */
export interface Info {
  /** rnnkit's version the binary was built from (package.json "version") */
  version: string;
  /** the .node file that was loaded (prebuilds/<platform>-<arch>/ or build/Release/) */
  binary: string;
  /** the CPU's vendor and features, as they choose the kernels below */
  cpu: CpuInfo;
  /** the level rnnkit's own kernels run at: the best the CPU allows, lowered by `RNNKIT_ISA` when set */
  isa: IsaLevel;
  /** OpenBLAS's build configuration, e.g. `OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64` */
  blas: string;
  /** the CPU kernel set OpenBLAS runs now, e.g. `Haswell`, `SkylakeX`, `Cooperlake` */
  blasCore: string;
  /** the kernel set OpenBLAS picked by itself at load (by CPU model, or by `OPENBLAS_CORETYPE` when set) */
  blasCoreDetected: string;
  /** who chose {@link Info.blasCore} */
  blasCoreChosenBy: BlasCoreChooser;
  /**
   * the kernel set rnnkit chose but could not switch this OpenBLAS to (one
   * built without DYNAMIC_ARCH, or without that core); `null` when the core
   * in use is the one chosen
   */
  blasCoreWanted: string | null;
  /**
   * who runs the large matrix products (16 rows or more: input projections,
   * attention, output layers, their gradients): `openblas`, or `rnnkit` when
   * its own kernels ({@link Info.isa}) are in a stronger instruction-set class
   * than {@link Info.blasCore} (for example `OPENBLAS_CORETYPE=Haswell` set on
   * an AVX-512 CPU). Products of fewer rows always run on rnnkit's kernels.
   */
  largeProducts: 'openblas' | 'rnnkit';
  /** true when OpenBLAS is linked into the binary (the published prebuilds); false when it is the system's shared library */
  blasStatic: boolean;
  /** threads rnnkit splits each call's work across (row chunks, large products), for the whole process: `OPENBLAS_NUM_THREADS` (capped at the core count) or the core count at load, or the last {@link setThreads} */
  threads: number;
  /** the most threads this OpenBLAS supports: the upper bound of {@link setThreads} */
  maxThreads: number;
  /** CMake build type of the binary, e.g. `Release` */
  buildType: string;
}

let inflight = 0;

/**
 * Counts `fn`'s native call as in flight until its Promise settles (internal:
 * lib/model.ts wraps every async native call in it).
 *
 * @throws whatever `fn` throws or rejects with
 * @example
 * const out = await trackCall(() => handle.forward(batch, false));
 */
export async function trackCall<T>(fn: () => Promise<T>): Promise<T> {
  inflight++;
  try {
    return await fn();
  } finally {
    inflight--;
  }
}

/**
 * Describes the loaded native binary and its BLAS: versions, the CPU's
 * features, the kernels in use (rnnkit's level and OpenBLAS's core, with who
 * chose it), the thread count, whether OpenBLAS is linked in, and the file
 * path. Loads the binary on first use; loading it is when rnnkit checks
 * OpenBLAS's core against the CPU's features (docs/install.md).
 *
 * @returns a fresh object each call
 * @throws Error when no native binary fits this platform (the message lists
 *   what was looked for, where, and how to build from source)
 * @example
 * import { info } from 'rnnkit';
 * const { version, blasCore, blasCoreChosenBy, isa, threads, blasStatic } = info();
 * console.log(`rnnkit ${version} (${isa}): OpenBLAS ${blasCore} chosen by ${blasCoreChosenBy}, ${threads} threads, static ${blasStatic}`);
 */
export function info(): Info {
  const raw = native().info();
  return {
    version: raw.version,
    binary: nativePath(),
    cpu: { ...raw.cpu },
    isa: raw.isa,
    blas: raw.blas,
    blasCore: raw.blasCore,
    blasCoreDetected: raw.blasCoreDetected,
    blasCoreChosenBy: raw.blasCoreChosenBy,
    blasCoreWanted: raw.blasCoreWanted,
    largeProducts: raw.largeProducts,
    blasStatic: raw.blasStatic,
    threads: raw.threads,
    maxThreads: raw.maxThreads,
    buildType: raw.buildType,
  };
}

/**
 * Sets how many threads rnnkit splits each call's work across (batch rows of
 * the recurrence, the dense layers and the loss; the large matrix products),
 * for the whole process, from the next call on. Call it once at start-up, or between
 * calls: it refuses while any model in this JS thread has an async call
 * running (`await` it first). It cannot see calls started in other worker
 * threads, so a program that runs models in workers should set it before
 * starting them. The default is `OPENBLAS_NUM_THREADS` (capped at the core
 * count) or the core count. Several models running at once on the libuv
 * pool are usually faster with 1 thread each.
 *
 * @param n - threads, an integer in [1, info().maxThreads]
 * @throws TypeError when `n` is not a number
 * @throws RangeError when `n` is not an integer in [1, info().maxThreads]
 * @throws RnnkitError `ERR_BUSY` while an async native call of this JS thread is running
 * @example
 * import { info, setThreads } from 'rnnkit';
 * const before = info().threads;
 * setThreads(1);            // e.g. for several models training concurrently
 * // ... later, with nothing running:
 * setThreads(before);
 */
export function setThreads(n: number): void {
  const binding = native();
  integer(n, 'n', 1, binding.info().maxThreads);
  if (inflight > 0) {
    throw new RnnkitError(
      'ERR_BUSY',
      `rnnkit: cannot change the thread count while ${inflight} native call${inflight === 1 ? ' is' : 's are'} running; await ${inflight === 1 ? 'it' : 'them'} first`,
    );
  }
  binding.setThreads(n);
}
