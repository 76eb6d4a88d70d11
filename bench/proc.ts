/** Readings from /proc for the benchmark children: peak memory and CPU used by others. */
import { readFileSync } from 'node:fs';

/** A field of /proc/self/status in bytes (VmHWM, VmRSS). */
export function procStatusBytes(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Busy CPU seconds of the whole machine so far (all cores; steal included), from /proc/stat. */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
  return busy / 100; // USER_HZ
}

/** CPU seconds used by this process so far (all its threads). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
