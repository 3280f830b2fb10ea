// The parsers of environment variable values that brokers' settings share with the rest of the configuration
// (src/config.ts spreads every broker's variables into its one schema).
import { z } from 'zod';

/** A whole number in `min..max`, from its decimal text. */
export const integer = (min: number, max: number) => z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

/** A URL with one of `protocols` (`amqp:`). */
export const brokerUrl = (...protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting ${protocols.map((p) => `${p}//`).join(' or ')}`,
  );

/** An inbox source's client id (INBOX_<BROKER>_CLIENT_ID). */
export const inboxClientId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -');
