/**
 * A worker thread for the shared QoS bucket test (dataplane-qos.test.ts): meters one capped port
 * over the bucket array it is given, offering 1500-byte frames as fast as it can for `ms`
 * milliseconds of the real clock, and posts the bytes it admitted. It says it is ready (ctl[0]
 * + 1) and starts when the test sets ctl[1], so the threads' runs overlap.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PortMeters } from '../../src/dataplane/qos.js';
import type { Snapshot } from '../../src/vfp/snapshot.js';

const { shared, mbps, ms, ctl } = workerData as { shared: Int32Array; mbps: number; ms: number; ctl: Int32Array };
const m = new PortMeters(shared);
m.configure({ portById: [{ qosMbps: mbps }] } as unknown as Snapshot, Date.now());
Atomics.add(ctl, 0, 1);
Atomics.wait(ctl, 1, 0);
let admitted = 0;
const end = Date.now() + ms;
for (let now = Date.now(); now < end; now = Date.now()) if (m.take(0, 1500, now)) admitted += 1500;
parentPort!.postMessage(admitted);
