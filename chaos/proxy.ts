// A loopback TCP proxy between workers and PostgreSQL that the nemesis drives: it adds latency, black-holes
// connections, resets them, and cuts a connection right after forwarding a COMMIT, so the client cannot know
// whether its transaction committed. It reads the frontend side of the PostgreSQL wire protocol just enough
// to see message boundaries and the text of Query (and Parse) messages.
import net from 'node:net';

export interface ProxyStats {
  connections: number;
  open: number;
  commitCuts: number;
  resets: number;
  blackholed: number;
}

export interface ChaosProxy {
  port: number;
  stats(): ProxyStats;
  /** Delays every message in both directions by `ms` (0 to stop). */
  setLatency(ms: number): void;
  /** The next `count` COMMITs are forwarded and then the connection is cut. */
  armCommitCuts(count: number): void;
  /** Commit cuts still armed. */
  pendingCommitCuts(): number;
  /** Resets `count` open connections (RST both ways); returns how many it reset. */
  reset(count: number, pick: (n: number) => number): number;
  /** Drops all traffic of `count` connections for `ms`, then resets them; returns how many. */
  blackhole(count: number, ms: number, pick: (n: number) => number): number;
  /** Stops every fault: latency 0, no armed cuts. Black holes end on their own timers. */
  heal(): void;
  /** Sends new connections to another server (a promoted standby) and resets the open ones; returns how many. */
  retarget(port: number, host?: string): number;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const COMMIT = /^\s*(COMMIT|END)\b/i;

interface Link {
  client: net.Socket;
  server: net.Socket;
  closed: boolean;
  blackholed: boolean;
  destroy(reset: boolean): void;
}

/**
 * Splits a frontend byte stream into whole messages. The first message (and any after an SSL/GSS request)
 * has no type byte; every later one is a type byte and an int32 length that counts itself.
 */
function createFrontendParser() {
  let buffer: Buffer = Buffer.alloc(0);
  let startup = true;
  return {
    /** Appends bytes; returns the complete messages now available, each with whether it is a COMMIT. */
    push(chunk: Buffer): { type: string; bytes: Buffer; commit: boolean }[] {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      const messages: { type: string; bytes: Buffer; commit: boolean }[] = [];
      for (;;) {
        if (startup) {
          if (buffer.length < 8) break;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) break;
          const code = buffer.readInt32BE(4);
          messages.push({ type: '', bytes: buffer.subarray(0, length), commit: false });
          buffer = buffer.subarray(length);
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
          continue;
        }
        if (buffer.length < 5) break;
        const length = buffer.readInt32BE(1) + 1;
        if (buffer.length < length) break;
        const type = String.fromCharCode(buffer[0] ?? 0);
        const bytes = buffer.subarray(0, length);
        let commit = false;
        if (type === 'Q') {
          commit = COMMIT.test(bytes.subarray(5, Math.min(length, 64)).toString('latin1'));
        } else if (type === 'P') {
          // Parse: statement name (NUL-terminated), then the query text.
          const nameEnd = bytes.indexOf(0, 5);
          if (nameEnd > 0) commit = COMMIT.test(bytes.subarray(nameEnd + 1, Math.min(length, nameEnd + 64)).toString('latin1'));
        }
        messages.push({ type, bytes, commit });
        buffer = buffer.subarray(length);
      }
      return messages;
    },
  };
}

/**
 * Starts the proxy on a free loopback port, forwarding to `target`.
 *
 * @example
 * const proxy = await startChaosProxy({ targetPort: 5432 });
 * proxy.armCommitCuts(3);
 */
export async function startChaosProxy(options: { targetPort: number; targetHost?: string }): Promise<ChaosProxy> {
  const links = new Set<Link>();
  const stats: ProxyStats = { connections: 0, open: 0, commitCuts: 0, resets: 0, blackholed: 0 };
  let latency = 0;
  let armed = 0;
  let target = { host: options.targetHost ?? '127.0.0.1', port: options.targetPort };

  const server = net.createServer((client) => {
    stats.connections++;
    stats.open++;
    const upstream = net.connect(target);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const link: Link = {
      client,
      server: upstream,
      closed: false,
      blackholed: false,
      destroy(reset) {
        if (link.closed) return;
        link.closed = true;
        stats.open--;
        links.delete(link);
        if (reset) {
          client.resetAndDestroy();
          if (upstream.readyState === 'open') upstream.resetAndDestroy();
          else upstream.destroy();
        } else {
          client.destroy();
          upstream.destroy();
        }
      },
    };
    links.add(link);
    // Ordered delivery with optional delay: each direction is a queue drained in order.
    const pipe = (to: net.Socket) => {
      const queue: { due: number; bytes: Buffer; after?: () => void }[] = [];
      let timer: NodeJS.Timeout | undefined;
      const drain = () => {
        timer = undefined;
        while (queue.length > 0 && !link.closed) {
          const next = queue[0];
          if (!next) break;
          const wait = next.due - Date.now();
          if (wait > 0) {
            timer = setTimeout(drain, wait);
            return;
          }
          queue.shift();
          if (link.blackholed) continue;
          if (next.after) to.write(next.bytes, next.after);
          else to.write(next.bytes);
        }
      };
      return (bytes: Buffer, after?: () => void) => {
        if (link.closed || link.blackholed) return;
        queue.push({ due: Date.now() + latency, bytes, ...(after ? { after } : {}) });
        if (!timer) drain();
      };
    };
    const toServer = pipe(upstream);
    const toClient = pipe(client);
    const parser = createFrontendParser();
    let cutting = false;
    // A COMMIT sent through the extended protocol (Parse ... Sync) runs at the Sync: cut after that.
    let commitAtSync = false;
    client.on('data', (chunk: Buffer) => {
      if (cutting) return;
      for (const message of parser.push(chunk)) {
        if (message.commit && message.type === 'P' && armed > 0) commitAtSync = true;
        const cutHere = (message.commit && message.type === 'Q') || (commitAtSync && message.type === 'S');
        if (cutHere && armed > 0) {
          armed--;
          cutting = true;
          // The COMMIT reaches the server and the client's side goes at once, so it never learns the outcome.
          // The server's side stays until the server answers (it has run the COMMIT) or a second passes.
          toServer(Buffer.from(message.bytes), () => {
            stats.commitCuts++;
            client.destroy();
            setTimeout(() => link.destroy(false), 1000).unref();
          });
          return;
        }
        toServer(Buffer.from(message.bytes));
      }
    });
    upstream.on('data', (chunk: Buffer) => (cutting ? link.destroy(false) : toClient(chunk)));
    const close = () => {
      if (!link.blackholed) link.destroy(false);
    };
    client.on('close', () => {
      if (!cutting) close();
    });
    upstream.on('close', close);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('proxy has no port');

  const pickLinks = (count: number, pick: (n: number) => number): Link[] => {
    const open = [...links].filter((link) => !link.closed && !link.blackholed);
    const chosen: Link[] = [];
    while (chosen.length < count && open.length > 0) {
      const [link] = open.splice(pick(open.length), 1);
      if (link) chosen.push(link);
    }
    return chosen;
  };

  return {
    port: address.port,
    stats: () => ({ ...stats }),
    setLatency(ms) {
      latency = ms;
    },
    armCommitCuts(count) {
      armed += count;
    },
    pendingCommitCuts: () => armed,
    reset(count, pick) {
      const chosen = pickLinks(count, pick);
      for (const link of chosen) link.destroy(true);
      stats.resets += chosen.length;
      return chosen.length;
    },
    blackhole(count, ms, pick) {
      const chosen = pickLinks(count, pick);
      for (const link of chosen) {
        link.blackholed = true;
        setTimeout(() => link.destroy(true), ms).unref();
      }
      stats.blackholed += chosen.length;
      return chosen.length;
    },
    heal() {
      latency = 0;
      armed = 0;
    },
    retarget(port, host = '127.0.0.1') {
      target = { host, port };
      const open = [...links];
      for (const link of open) link.destroy(true);
      stats.resets += open.length;
      return open.length;
    },
    async close() {
      for (const link of [...links]) link.destroy(false);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
