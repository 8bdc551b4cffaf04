/**
 * Where the two-VM demo finds the project and keeps its images and runs. The project checkout is
 * shared into both guests by 9p (they run its dist/), so it is found from this file, which works
 * from src/vms and dist/vms alike.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project checkout. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Images (image-*), the root file system (rootfs-*), logs and per-run directories (run-*). */
export const VM_CACHE = process.env.SWITCHYARD_VM_CACHE ?? path.join(PROJECT_ROOT, '.cache/vms');
