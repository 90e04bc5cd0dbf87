// Which process listens on a loopback port (Linux, /proc): a readiness probe that only asks "does something
// answer on this port" can be answered by another suite's service that took the same port first.
import { readdir, readFile, readlink } from 'node:fs/promises';

/** Inodes of the sockets listening on `port` (state 0A) in /proc/net/tcp and tcp6; null where neither can be read. */
async function listeningInodes(port: number): Promise<Set<string> | null> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let read = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => null);
    if (text === null) continue;
    read = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && f[1]!.endsWith(`:${hexPort}`)) inodes.add(f[9]!);
    }
  }
  return read ? inodes : null;
}

/**
 * Whether process `pid` holds a socket listening on `port`; false once it has exited. `{ group: true }`:
 * whether any process of the process group `pid` does (a command such as `npm start` whose server is a
 * child of it, spawned `detached`). Where there is no /proc (not Linux) it cannot tell and answers true:
 * the caller's own readiness probe then decides alone, as before this check (`npm run cluster` and the
 * benchmark still start there).
 */
export async function listensOn(pid: number, port: number, { group = false }: { group?: boolean } = {}): Promise<boolean> {
  const inodes = await listeningInodes(port);
  if (inodes === null) return true;
  if (inodes.size === 0) return false;
  for (const p of group ? await groupMembers(pid) : [pid]) {
    const fds = await readdir(`/proc/${p}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${p}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) return true;
    }
  }
  return false;
}

/** The processes whose process group is `pgid` (field 5 of /proc/<pid>/stat). */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => null);
    // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so read after the last ')'.
    if (stat !== null && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid) members.push(Number(name));
  }
  return members;
}
