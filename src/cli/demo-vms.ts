/**
 * `switchyard demo --vms`: Figure 8 across two qemu VMs. The code is in ./vms/ (demo.ts is the
 * command; the image, the VMs, their command channel and the scenarios each have a module there).
 */
export { runDemoVms, type DemoVmsOptions } from './vms/demo.js';
