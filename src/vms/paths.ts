/**
 * Where the two-VM demo finds the project, keeps the machine's images and this checkout's runs.
 * The project checkout is shared into both guests by 9p (they run its dist/), so it is found from
 * this file, which works from src/vms and dist/vms alike. The image takes minutes to build and
 * depends only on its recipe, so it is kept once per machine (scripts/vm/build-image.sh), not per
 * clone.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project checkout. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The machine's image cache, shared by every checkout: images by recipe hash, the debootstrap
 * stage, build logs (logs/), the KVM probe's answer. SWITCHYARD_VM_CACHE moves it.
 */
export const VM_IMAGE_CACHE = process.env.SWITCHYARD_VM_CACHE ?? '/var/cache/switchyard/vms';

/** This checkout's runs (run-*): overlays, sockets, console, qemu and agent logs. */
export const VM_RUNS = path.join(PROJECT_ROOT, '.cache/vms');
