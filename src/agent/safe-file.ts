/**
 * Files the agent (root) writes for itself: the policy cache and its ownership record. A root
 * process that writes through a predictable path (`<file>.tmp`) in a directory others can write
 * follows whatever symlink was planted there and overwrites its target. So: the directory must be
 * a real directory owned by this user and writable by no one else (it is made 0700 when missing),
 * the temp file gets a random name and is created exclusively without following links
 * (O_CREAT|O_EXCL|O_NOFOLLOW), then fsync'd and renamed over the file (atomic: a reader sees the
 * old or the new content, never a part).
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** Makes `dir` (0700) if missing; refuses one that is a symlink, not ours, or group/other-writable. */
export async function checkPrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) throw new Error(`${dir} is not a directory (a symlink?): refusing to write there`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new Error(`${dir} belongs to uid ${st.uid}, not to this process (uid ${uid}): refusing to write there`);
  if ((st.mode & 0o022) !== 0) {
    throw new Error(`${dir} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}): refusing to write there`);
  }
}

/** Writes `data` to `file` (mode `mode`) through an exclusively created temp file in its own directory. */
export async function writeFileSafely(file: string, data: string, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  await checkPrivateDir(dir);
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(temp, flags, mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
