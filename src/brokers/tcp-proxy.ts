// A loopback TCP proxy in front of a broker, so a test can cut only its own connections (the brokers are
// shared): `cut()` resets the connections open now; `down()` also refuses new ones until `up()`.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections accepted while up, since the start. */
  connections(): number;
  /** Resets every connection open now; returns how many. */
  cut(): number;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

/**
 * @example
 * const proxy = await startTcpProxy(4222);
 * const url = `nats://127.0.0.1:${proxy.port}`;
 */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const links = new Set<[client: net.Socket, upstream: net.Socket]>();
  let accepted = 0;
  let isDown = false;
  const server = net.createServer((client) => {
    if (isDown) {
      client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = net.connect(targetPort, targetHost);
    const link: [net.Socket, net.Socket] = [client, upstream];
    links.add(link);
    for (const socket of link) {
      socket.on('error', () => {});
      socket.on('close', () => {
        links.delete(link);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    const open = [...links];
    for (const [client, upstream] of open) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    return open.length;
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => accepted,
    cut,
    down() {
      isDown = true;
      cut();
    },
    up() {
      isDown = false;
    },
    async close() {
      for (const [client, upstream] of links) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
