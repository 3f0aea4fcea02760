// Where an upload's CPU time goes, by process: every process's user + system time from /proc
// before and after, the differences summed per kind of process. Rows 16 and 17 use it to show
// what each contender costs the machine, not only how fast it went: the browser's processes
// (Chromium's browser process serves Blob reads and runs the network stack unless a network
// service process does; the renderer runs the page's JavaScript and wasm), the servers, and the
// kernel's own threads (writeback, softirq work not charged to a process). Linux only; elsewhere
// the profile is empty.
import fs from 'node:fs';

/** Clock ticks per second of /proc's times: USER_HZ, 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

/** The kind of process a command line is, for the profile. */
export function kindOf(cmdline, comm) {
  if (cmdline === '') return 'kernel threads';
  if (/partup-server/.test(cmdline)) return 'partup-server';
  if (/tus-server\.mjs/.test(cmdline)) return 'tus server (node)';
  if (/(^|\/)garage\b/.test(cmdline)) return 'Garage (S3)';
  if (/fault-proxy/.test(cmdline)) return 'fault proxy';
  if (/chrom/i.test(cmdline) || /chrom/i.test(comm)) {
    if (/--type=renderer/.test(cmdline)) return 'Chromium renderer (page, workers)';
    if (/--type=utility/.test(cmdline) && /network/i.test(cmdline)) return 'Chromium network service';
    if (/--type=gpu-process/.test(cmdline)) return 'Chromium GPU process';
    if (/--type=/.test(cmdline)) return 'Chromium, other';
    return 'Chromium browser process';
  }
  if (/node/.test(comm)) return 'bench driver (node)';
  return 'other';
}

/** user + system seconds of every process now, by pid, with its kind. */
export function snapshot() {
  const byPid = new Map();
  let pids;
  try {
    pids = fs.readdirSync('/proc').filter(name => /^\d+$/.test(name));
  } catch {
    return byPid;
  }
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // comm is in parentheses and may hold spaces or parentheses itself: fields follow the last ')'.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      // After comm: state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
      const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      byPid.set(pid, { kind: kindOf(cmdline, comm), seconds });
    } catch {
      // Gone between the listing and the read: it ran too briefly to matter.
    }
  }
  return byPid;
}

/** CPU seconds per kind between two snapshots (a process new in `after` counts from 0; one gone
 *  before `after` is lost, so short-lived helpers are under-counted, never over-counted). */
export function cpuBetween(before, after) {
  const byKind = {};
  for (const [pid, now] of after) {
    const spent = now.seconds - (before.get(pid)?.seconds ?? 0);
    if (spent > 0) byKind[now.kind] = (byKind[now.kind] ?? 0) + spent;
  }
  return byKind;
}

/** Adds `byKind` into `total` (per kind). */
export function accumulate(total, byKind) {
  for (const [kind, seconds] of Object.entries(byKind)) total[kind] = (total[kind] ?? 0) + seconds;
  return total;
}
