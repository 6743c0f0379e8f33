/**
 * compare()'s `jobs` leaves no dataset files behind (ts/train/compare-jobs.ts): the pool's
 * temporary folder is removed on close or on a process exit that skipped close, and the folder
 * of a parent killed outright (SIGKILL, which no handler sees) is removed by the next pool made
 * on the host, found by the owner file it holds; a live process's folder, another host's and a
 * folder without an owner are left alone.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOB_DIR_PREFIX, removeStaleJobDirs } from '../../ts/train/compare-jobs.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'compare-jobs-child.js');

/** The pools' folders in `root`. */
const jobDirs = (root: string): string[] => fs.readdirSync(root).filter((n) => n.startsWith(JOB_DIR_PREFIX)).sort();

/** Whether process `pid` runs (a zombie counts as gone). */
function running(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('compare jobs: temporary dataset files', function () {
  this.timeout(120_000);
  const made: string[] = [];
  const tmp = (what: string): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `hydranet-jobs-tmp-${what}-`));
    made.push(dir);
    return dir;
  };
  after(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });

  it('a parent killed by SIGKILL mid-comparison leaves its folder, which the next comparison removes; its workers exit', async () => {
    const root = tmp('root');
    const env = { ...process.env, TMPDIR: root };
    const proc = spawn(process.execPath, [child, 'hold', tmp('out')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      proc.on('exit', (code) => reject(new Error(`the child exited (${code}) before its first run finished: ${stderr}`)));
    });
    assert.match(line, /^running( \d+)+$/, 'the child reports its worker processes');
    const workerPids = line.split(' ').slice(1).map(Number);
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
    const left = jobDirs(root);
    assert.equal(left.length, 1, 'SIGKILL skips every clean-up: the folder is there');
    assert.deepEqual(fs.readdirSync(path.join(root, left[0])).sort(), ['owner', 'train.bin', 'validation.bin']);
    for (let i = 0; i < 200 && workerPids.some(running); i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual(workerPids.filter(running), [], 'the workers exit with their parent');

    const next = spawnSync(process.execPath, [child, 'finish', tmp('out')], { env, encoding: 'utf8', timeout: 100_000 });
    assert.equal(next.status, 0, next.stderr);
    assert.equal(next.stdout.trim(), 'done');
    assert.deepEqual(jobDirs(root), [], "the next comparison removed the dead parent's folder, and its own on close");
  });

  it('a process that exits without closing its pool leaves no folder', () => {
    const root = tmp('exit');
    const r = spawnSync(process.execPath, [child, 'exit'], { env: { ...process.env, TMPDIR: root }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'made');
    assert.deepEqual(jobDirs(root), []);
  });

  it('removes only folders whose owner is a process of this host that has ended', () => {
    const root = tmp('sweep');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    const stat = fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const myStart = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const host = os.hostname();
    const folder = (name: string, owner: unknown): string => {
      const dir = path.join(root, `${JOB_DIR_PREFIX}${name}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'train.bin'), 'x');
      if (owner !== undefined) fs.writeFileSync(path.join(dir, 'owner'), typeof owner === 'string' ? owner : JSON.stringify(owner));
      return dir;
    };
    const gone = [
      folder('dead', { pid: deadPid, start: '1', host }),
      folder('reused', { pid: process.pid, start: String(Number(myStart) + 1), host }), // a pid reused by another process
    ];
    folder('live', { pid: process.pid, start: myStart, host });
    folder('live-no-proc', { pid: process.pid, start: null, host });
    folder('other-host', { pid: deadPid, start: '1', host: `${host}-elsewhere` });
    folder('no-owner', undefined); // being made, or by a hydranet that wrote no owner
    folder('garbled', '{"pid":');
    folder('bad-pid', { pid: -1, start: null, host });
    fs.mkdirSync(path.join(root, 'hydranet-other-dead'));
    fs.writeFileSync(path.join(root, 'hydranet-other-dead', 'owner'), JSON.stringify({ pid: deadPid, start: '1', host }));
    assert.deepEqual(removeStaleJobDirs(root).sort(), gone.sort());
    assert.deepEqual(jobDirs(root), ['bad-pid', 'garbled', 'live', 'live-no-proc', 'no-owner', 'other-host'].map((n) => JOB_DIR_PREFIX + n));
    assert.ok(fs.existsSync(path.join(root, 'hydranet-other-dead')), 'only folders of the pools');
    assert.deepEqual(removeStaleJobDirs(path.join(root, 'missing')), [], 'a root that does not exist');
  });
});
