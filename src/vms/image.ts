/**
 * The guest image: scripts/vm/build-image.sh builds it once per machine (debootstrap of Debian
 * bookworm, the host's node binary, the command runner) into VM_IMAGE_CACHE/<hash of the recipe>/
 * and reuses it while the recipe is unchanged; this runs the script, relays its progress and
 * returns the files qemu boots, or throws one line that says why the image could not be built.
 */
import path from 'node:path';
import { spawn } from 'node:child_process';
import { PROJECT_ROOT, VM_IMAGE_CACHE } from './paths.js';
import { track } from './children.js';
import type { Say } from './progress.js';

export interface VmImage {
  dir: string;
  kernel: string;
  initrd: string;
  /** The raw ext4 root file system; each VM boots a qcow2 overlay of it. */
  base: string;
}

/** Builds the guest image, or finds it in the cache; progress lines go to `say`. */
export async function buildImage(say: Say): Promise<VmImage> {
  const script = path.join(PROJECT_ROOT, 'scripts/vm/build-image.sh');
  const child = track(spawn('bash', [script, '--node', process.execPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, SWITCHYARD_VM_CACHE: VM_IMAGE_CACHE },
  }));
  let dir = '';
  const errors: string[] = [];
  const onLine = (l: string, err: boolean) => {
    const m = /^image: (.+)$/.exec(l);
    if (m) dir = m[1]!;
    else if (l.trim()) {
      if (err) errors.push(l);
      say(l);
    }
  };
  const lines = (s: NodeJS.ReadableStream, err: boolean) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i), err);
        buf = buf.slice(i + 1);
      }
    });
  };
  lines(child.stdout!, false);
  lines(child.stderr!, true);
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)));
  if (code !== 0 || !dir) {
    // the script's own verdict ("vm-image: FAILED: ...") if it gave one, else its last words
    const failed = errors.filter((l) => l.includes('FAILED:')).map((l) => l.replace(/^.*FAILED: /, ''));
    const why = (failed.length ? failed : errors.slice(-3)).join('; ') || 'no message';
    throw new Error(`cannot build the two-VM Debian image (${path.relative(PROJECT_ROOT, script)} exited ${code}): ${why}; build logs in ${path.join(VM_IMAGE_CACHE, 'logs')}`);
  }
  return { dir, kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img'), base: path.join(dir, 'base.img') };
}
