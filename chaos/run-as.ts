// PostgreSQL and PgBouncer refuse to run as root: when we are root they run as the `postgres` user.
import { spawnSync } from 'node:child_process';
import os from 'node:os';

/**
 * The uid/gid to run `program` as: ours (undefined), or the `postgres` user's when we are root.
 *
 * @example
 * const user = postgresUser('PostgreSQL');
 * spawn(bin, args, { ...(user ?? {}) });
 */
export function postgresUser(program: string): { uid: number; gid: number } | undefined {
  if (os.userInfo().uid !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) throw new Error(`${program} refuses to run as root and there is no postgres user to run it as`);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
