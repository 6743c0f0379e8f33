/**
 * Files that must never be left half-written (checkpoints, metrics.json, config.json): each is
 * written to a temporary file beside it, `.<name>.<pid>.tmp`, completely (short writes are
 * continued, a write that makes no progress is an error), flushed to the disk (fsync), checked
 * for its size, and only then renamed over the old file; the folder is flushed after the rename
 * so the new name survives a power cut. On any failure the temporary file is removed, the old
 * file is left as it was, and FileWriteError names the file and the cause (the disk is full,
 * the file system is read-only, a parent is a file, ...).
 *
 * A process killed during a write (kill -9, a crash) leaves its temporary file behind; the next
 * write of the same file removes the temporaries whose writer process is gone, never one that
 * a live process is still writing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileWriteError, ValueError, describe } from '../errors.js';

/** What an errno code means, in words, for the messages of FileWriteError. */
const CAUSES: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  EFBIG: 'the file would exceed the largest file this process may write (ulimit -f) or the file system allows',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted',
  ENOTDIR: 'a parent is a file, not a folder',
  EEXIST: 'a parent is a file, not a folder',
  EISDIR: 'a folder of that name exists',
  ENOENT: 'a parent folder does not exist',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'the path has a symbolic link loop',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  EIO: 'an input/output error (a failing disk or a lost network file system)',
  EBUSY: 'the file is busy',
  EXDEV: 'the temporary file and the target are on different file systems',
};

function cause(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const words = code ? CAUSES[code] : undefined;
  if (words) return `${words} (${code})`;
  return e instanceof Error ? e.message : String(e);
}

/** The temporary file of `file` written by process `pid`. */
export function temporaryPath(file: string, pid: number = process.pid): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${pid}.tmp`);
}

/** Whether a process with this id exists (on this machine, in this pid namespace). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user. Only ESRCH says it is gone.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the temporary files of `file` left by writer processes that no longer exist (killed
 * mid-write). Temporaries of live processes (another run writing the same file right now), of
 * this process and of other files are kept. Returns the paths removed. Never throws: a
 * temporary that cannot be listed or removed is left for the next write.
 */
export function removeStaleTemporaries(file: string): string[] {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const digits = name.slice(prefix.length, -'.tmp'.length);
    if (!/^[1-9][0-9]{0,9}$/.test(digits)) continue;
    const pid = Number(digits);
    if (pid > 0x7fffffff || pid === process.pid || processAlive(pid)) continue;
    const stale = path.join(dir, name);
    try {
      fs.unlinkSync(stale);
      removed.push(stale);
    } catch {
      // Gone already (another process cleaned it), or not ours to remove: leave it.
    }
  }
  return removed;
}

/**
 * Writes `data` to `file` atomically: `file` holds either its old content or all of `data`,
 * never a part, whatever fails (a full disk, a killed process, a power cut after this returns).
 * Creates the parent folders. Throws FileWriteError naming the file and the cause.
 */
export function writeFileAtomic(file: string, data: Buffer | string): void {
  if (typeof file !== 'string' || file === '') throw new ValueError(`Expected a file path for writeFileAtomic but received ${describe(file)}`);
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new ValueError(`Expected a string or a Buffer to write to ${file} but received ${describe(data)}`);
  }
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const dir = path.dirname(file);
  const previous = fs.existsSync(file) ? `the previous ${file} is kept unchanged` : `no file was written`;
  const fail = (step: string, e: unknown): FileWriteError =>
    new FileWriteError(`Cannot write ${file}: ${step} failed: ${cause(e)}; ${previous}`, file);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fail(`creating the folder ${dir}`, e);
  }
  removeStaleTemporaries(file);
  const tmp = temporaryPath(file);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w');
  } catch (e) {
    throw fail(`creating the temporary file ${tmp}`, e);
  }
  let step = 'writing';
  try {
    for (let at = 0; at < bytes.length; ) {
      const n = fs.writeSync(fd, bytes, at, bytes.length - at);
      if (!(n > 0)) throw Object.assign(new Error(`a write made no progress at byte ${at}`), { code: 'ENOSPC' });
      at += n;
    }
    step = 'flushing to the disk (fsync)';
    fs.fsyncSync(fd);
    step = 'checking the size';
    const size = fs.fstatSync(fd).size;
    if (size !== bytes.length) throw new Error(`the temporary file holds ${size} bytes, not ${bytes.length}`);
    step = 'closing';
    const open = fd;
    fd = -1;
    fs.closeSync(open);
    step = `renaming ${tmp} to ${path.basename(file)}`;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd >= 0) {
      try {
        fs.closeSync(fd);
      } catch {
        // The write already failed; that error is the one to report.
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      // Not created or already gone.
    }
    throw fail(step, e);
  }
  syncFolder(dir, file);
}

/**
 * Checks that `dir` can hold files before any work depends on it: creates it (and its parents)
 * and writes, flushes and removes a small probe file in it. Returns whether this call created
 * the folder. `role` names the folder in messages ("run folder").
 * @throws FileWriteError naming the folder and the cause (a parent is a file, read-only, full...).
 */
export function checkWritableFolder(dir: string, role = 'folder'): boolean {
  const fail = (why: string): FileWriteError => new FileWriteError(`Cannot use ${dir} as the ${role}: ${why}`, dir);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(dir, { throwIfNoEntry: false });
  } catch {
    stat = undefined; // a parent that is a file: creating the folder says so below
  }
  if (stat && !stat.isDirectory()) throw fail('it is a file, not a folder');
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fail(`creating it failed: ${cause(e)}`);
  }
  const probe = path.join(dir, `.hydranet-write-probe.${process.pid}`);
  try {
    const fd = fs.openSync(probe, 'w');
    try {
      fs.writeSync(fd, 'hydranet\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw fail(`writing a file in it failed: ${cause(e)}`);
  } finally {
    fs.rmSync(probe, { force: true });
  }
  return stat === undefined;
}

/** Flushes a folder's entries (the rename) to the disk; POSIX only (Windows cannot open folders). */
function syncFolder(dir: string, file: string): void {
  if (process.platform === 'win32') return;
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Some file systems (and some network mounts) cannot fsync a folder: nothing more to do there.
    if (code === 'EINVAL' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EISDIR') return;
    throw new FileWriteError(
      `Wrote ${file}, but flushing its folder ${dir} to the disk failed: ${cause(e)}; the new file may not survive a power cut`,
      file,
    );
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
