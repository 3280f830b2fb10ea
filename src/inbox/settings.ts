// What the inbox role needs to know before it loads any broker client (amqplib, @nats-io, node-redis take
// seconds to load on a small machine): every process asks this, only an inbox process loads the rest.

/** The INBOX_* settings (src/config.ts); a source is configured when its URL is set. */
export interface InboxSettings {
  INBOX_RABBITMQ_URL?: string | undefined;
  INBOX_RABBITMQ_QUEUE: string;
  INBOX_RABBITMQ_PREFETCH: number;
  INBOX_RABBITMQ_CLIENT_ID?: string | undefined;
  INBOX_NATS_URL?: string | undefined;
  INBOX_NATS_STREAM: string;
  INBOX_NATS_SUBJECT: string;
  INBOX_NATS_CONSUMER: string;
  INBOX_NATS_CLIENT_ID?: string | undefined;
  INBOX_NATS_PREFETCH: number;
  INBOX_NATS_ACK_WAIT_SECONDS: number;
  INBOX_NATS_MAX_DELIVER: number;
  INBOX_REDIS_URL?: string | undefined;
  INBOX_REDIS_STREAM: string;
  INBOX_REDIS_GROUP: string;
  INBOX_REDIS_CONSUMER?: string | undefined;
  INBOX_REDIS_CLIENT_ID?: string | undefined;
  INBOX_REDIS_PREFETCH: number;
  INBOX_REDIS_CLAIM_IDLE_MS: number;
  INBOX_REDIS_MAX_DELIVERIES: number;
}

/** Whether any INBOX_*_URL is set. */
export const inboxConfigured = (settings: InboxSettings): boolean => Boolean(settings.INBOX_RABBITMQ_URL || settings.INBOX_NATS_URL || settings.INBOX_REDIS_URL);
