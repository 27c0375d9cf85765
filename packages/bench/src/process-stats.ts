import { readdirSync, readFileSync } from 'node:fs';

/** Linux USER_HZ: the unit of utime/stime in /proc/PID/stat (100 on every common kernel). */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcessSample {
  /** utime + stime of every process, in milliseconds. */
  readonly cpuMs: number;
  /** VmRSS summed over every process, in kilobytes. */
  readonly rssKb: number;
  readonly pids: readonly number[];
}

/** The root PIDs and all their descendants (nginx workers, a CLI's child server, ...). */
export function processTree(roots: readonly number[]): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) parentOf.set(Number(entry), stat.ppid);
  }
  const tree = new Set(roots.filter((pid) => parentOf.has(pid)));
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** CPU time and RSS summed over `pids` (processes that have exited count as 0). */
export function sampleProcesses(pids: readonly number[]): ProcessSample {
  let ticks = 0;
  let rssKb = 0;
  for (const pid of pids) {
    const stat = readStat(pid);
    if (!stat) continue;
    ticks += stat.utime + stat.stime;
    rssKb += readRssKb(pid);
  }
  return { cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND, rssKb, pids };
}

interface Stat {
  ppid: number;
  utime: number;
  stime: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(fields[1]), utime: Number(fields[11]), stime: Number(fields[12]) };
}

function readRssKb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Nanoseconds `pids` spent runnable but waiting for a core (field 2 of /proc/PID/schedstat),
 * summed. A process that gets little CPU and waits little is idle; one that waits is starved:
 * the machine has more runnable work than cores.
 */
export function runQueueWaitNs(pids: readonly number[]): number {
  let waited = 0;
  for (const pid of pids) {
    try {
      waited += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      // Exited, or a kernel without schedstats: counts as 0.
    }
  }
  return waited;
}
