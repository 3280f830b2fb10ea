// `oncely <command>`: the operator's CLI. Reads arguments with node:util parseArgs, refuses bad input before
// touching anything, and reports every failure as one line on stderr (never a stack trace).
import { ConfigError, type Config } from '../config.ts';
import { configuredDatabaseUrl, readEnvironment } from '../main/environment.ts';
import { isConnectionLost } from '../processor/errors.ts';
import { deadLettersCommand } from './commands/dead-letters.ts';
import { migrateCommand } from './commands/migrate.ts';
import { purgeCommand } from './commands/purge.ts';
import { replayCommand } from './commands/replay.ts';
import { statsCommand } from './commands/stats.ts';
import { statusCommand } from './commands/status.ts';
import type { OpenContext } from './context.ts';
import { CommandFailed, ConnectionFailed, EXIT, UsageError, readArgs, type CliCommand } from './usage.ts';

// Each command's input type is its own; the dispatcher only passes parse's result on to run.
const COMMANDS: ReadonlyArray<CliCommand<never>> = [statusCommand, deadLettersCommand, replayCommand, statsCommand, purgeCommand, migrateCommand] as never;

const GLOBAL_HELP = `usage: oncely <command> [options]

Operates an oncely database: DATABASE_URL, or without it the embedded PostgreSQL that npm start or
npm run postgres is running (its URL is in .data/postgres-url). Behind a transaction pooler, as for the
servers: DATABASE_URL at the pooler, DATABASE_DIRECT_URL at PostgreSQL (migrate and replay's queue use it).

commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(14)}${command.summary}`).join('\n')}

options (every command):
  --json       machine-readable output on stdout (progress and errors go to stderr)
  -h, --help   help for oncely, or for one command (oncely <command> --help)

exit codes: 0 done, 1 not found or the operation failed, 2 bad usage or configuration

examples:
  oncely status credit-alice-1
  oncely dead-letters --limit 20
  oncely replay --all-dead
  oncely stats --json
  oncely purge --older-than 30d
  oncely migrate`;

const say = (line: string) => process.stderr.write(`oncely: ${line}\n`);

/** The command name, skipping boolean global options written before it (`oncely --json stats`). */
function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  const index = argv.findIndex((arg) => arg !== '--json' && arg !== '--help' && arg !== '-h');
  if (index === -1) return { name: undefined, rest: [...argv] };
  return { name: argv[index], rest: [...argv.slice(0, index), ...argv.slice(index + 1)] };
}

/** The environment's configuration; a bad variable is bad usage (exit 2), named in one line. */
function configuration(): Config {
  try {
    return readEnvironment();
  } catch (err) {
    throw err instanceof ConfigError ? new UsageError(err.message) : err;
  }
}

/** One line for a failure in the middle of a command. */
function describeFailure(name: string, err: unknown): string {
  const { code, message } = (err ?? {}) as { code?: string; message?: string };
  const first = (message ?? String(err)).split('\n')[0];
  if (code === '42P01' || code === '3F000') return `the oncely schema is not installed in this database: run oncely migrate first`;
  if (isConnectionLost(err)) return `lost the connection to the database during ${name}: ${first}`;
  return `${name} failed: ${first}`;
}

/**
 * Runs the CLI on `argv` (without node and the script) and returns the exit code.
 *
 * @example
 * process.exitCode = await runCli(['status', 'credit-alice-1', '--json']);
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const { name, rest } = splitCommand(argv);
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  if (name === undefined || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((command) => command.name === rest[0]) : undefined;
    if (name === undefined && !wantsHelp) {
      say('no command given (run oncely --help)');
      return EXIT.usage;
    }
    process.stdout.write((topic?.help ?? GLOBAL_HELP) + '\n');
    return EXIT.ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  let context: OpenContext | undefined;
  try {
    if (!command) throw new UsageError(`unknown command '${name.slice(0, 40)}' (run oncely --help for the list)`);
    const args = readArgs(command.name, rest, command.options);
    if (args.values['help'] === true) {
      process.stdout.write(command.help + '\n');
      return EXIT.ok;
    }
    const input = command.parse(args);
    // The database code loads only now, so help and bad usage answer at once.
    const { openContext } = await import('./context.ts');
    const config = configuration();
    const url = await configuredDatabaseUrl(config);
    if (!url) throw new UsageError('DATABASE_URL is not set and no embedded PostgreSQL is running (start one with npm start or npm run postgres)');
    context = await openContext({ ...config, DATABASE_URL: url }, { json: args.values['json'] === true, interactive: process.stderr.isTTY === true });
    await command.run(context, input);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) {
      say(err.message);
      return EXIT.usage;
    }
    say(err instanceof CommandFailed || err instanceof ConnectionFailed ? err.message : describeFailure(name, err));
    return EXIT.failed;
  } finally {
    await context?.close().catch(() => {});
  }
}

// Exits explicitly: a pool or the queue must not keep a finished command alive. stdout and stderr are
// synchronous for files and pipes on Linux, so nothing printed is lost.
const code = await runCli(process.argv.slice(2)).catch((err: unknown) => {
  say(`unexpected failure: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`);
  return EXIT.failed;
});
process.exit(code);
