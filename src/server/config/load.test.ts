import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Config, ConfigError, configHelp, DEFAULTS, loadConfig } from './index.ts';
import { OPTIONS } from './options.ts';

const dir = mkdtempSync(join(tmpdir(), 'pushwire-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Env = Record<string, string>;

/** Writes `text` to a file in the test's directory and returns its name (relative to it). */
function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

function load(argv: string[] = [], env: Env = {}): Config {
  return loadConfig({ argv, env, cwd: dir });
}

/** The problem lines of the ConfigError that loading throws. */
function problems(argv: string[] = [], env: Env = {}): readonly string[] {
  try {
    load(argv, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    assert.equal(error.name, 'ConfigError');
    assert.equal(error.message, error.problems.join('\n'));
    return error.problems;
  }
  assert.fail('expected loading to fail');
}

function problem(argv: string[] = [], env: Env = {}): string {
  const found = problems(argv, env);
  assert.equal(found.length, 1, found.join('\n'));
  return found[0]!;
}

describe('loadConfig: defaults', () => {
  it('gives the defaults when nothing is set', () => {
    assert.deepEqual(load(), DEFAULTS);
  });

  it('has a row in the option table for every Config field', () => {
    assert.deepEqual(OPTIONS.map((spec) => spec.field).sort(), Object.keys(DEFAULTS).sort());
  });

  it('names env vars PUSHWIRE_ + the key in UPPER_SNAKE case', () => {
    const heartbeat = OPTIONS.find((spec) => spec.field === 'heartbeatIntervalMs')!;
    assert.deepEqual(
      [heartbeat.key, heartbeat.flag, heartbeat.env],
      ['heartbeatInterval', 'heartbeat-interval', 'PUSHWIRE_HEARTBEAT_INTERVAL'],
    );
    const size = OPTIONS.find((spec) => spec.field === 'maxMessageBytes')!;
    assert.deepEqual(
      [size.key, size.flag, size.env],
      ['maxMessageSize', 'max-message-size', 'PUSHWIRE_MAX_MESSAGE_SIZE'],
    );
  });
});

describe('loadConfig: precedence flags > env > file > defaults', () => {
  const yaml = file('precedence.yaml', 'heartbeatInterval: 3s\n');

  it('file over defaults', () => {
    assert.equal(load(['--config', yaml]).heartbeatIntervalMs, 3_000);
  });

  it('env over defaults', () => {
    assert.equal(load([], { PUSHWIRE_HEARTBEAT_INTERVAL: '2s' }).heartbeatIntervalMs, 2_000);
  });

  it('flag over defaults', () => {
    assert.equal(load(['--heartbeat-interval', '1s']).heartbeatIntervalMs, 1_000);
  });

  it('env over file', () => {
    assert.equal(load(['--config', yaml], { PUSHWIRE_HEARTBEAT_INTERVAL: '2s' }).heartbeatIntervalMs, 2_000);
  });

  it('flag over file', () => {
    assert.equal(load(['--config', yaml, '--heartbeat-interval=1s']).heartbeatIntervalMs, 1_000);
  });

  it('flag over env', () => {
    assert.equal(
      load(['--heartbeat-interval', '1s'], { PUSHWIRE_HEARTBEAT_INTERVAL: '2s' }).heartbeatIntervalMs,
      1_000,
    );
  });

  it('flag over env over file, option by option', () => {
    const both = file('both.yaml', 'heartbeatInterval: 3s\nport: 3000\nhost: 127.0.0.3\n');
    const config = load(['--config', both, '--heartbeat-interval', '1s'], {
      PUSHWIRE_HEARTBEAT_INTERVAL: '2s',
      PUSHWIRE_PORT: '2000',
    });
    assert.deepEqual([config.heartbeatIntervalMs, config.port, config.host], [1_000, 2_000, '127.0.0.3']);
  });

  it('an off from a higher source beats a value from a lower one', () => {
    assert.equal(load(['--config', yaml, '--heartbeat-interval', 'off']).heartbeatIntervalMs, null);
    assert.equal(load(['--no-demo'], { PUSHWIRE_DEMO: 'true' }).demo, false);
  });

  it('the last of a repeated flag wins', () => {
    assert.equal(load(['--port', '1', '--port', '2']).port, 2);
  });

  it('finds the file from PUSHWIRE_CONFIG, and --config wins over it', () => {
    const other = file('other.yaml', 'port: 4000\n');
    assert.equal(load([], { PUSHWIRE_CONFIG: other }).port, 4_000);
    assert.equal(load(['--config', yaml], { PUSHWIRE_CONFIG: other }).port, 8_080);
  });

  it('treats an empty env var as unset', () => {
    assert.equal(load([], { PUSHWIRE_API_KEY: '', PUSHWIRE_PORT: '' }).apiKey, null);
  });
});

describe('loadConfig: values', () => {
  it('takes durations in milliseconds or with a unit', () => {
    const config = load(
      ['--heartbeat-interval', '500ms', '--poll-timeout=2m', '--shutdown-timeout', '1500'],
      {
        PUSHWIRE_HEARTBEAT_TIMEOUT: '1h',
        PUSHWIRE_HISTORY_TTL: '90s',
      },
    );
    assert.deepEqual(
      [
        config.heartbeatIntervalMs,
        config.pollTimeoutMs,
        config.shutdownTimeoutMs,
        config.heartbeatTimeoutMs,
        config.historyTtlMs,
      ],
      [500, 120_000, 1_500, 3_600_000, 90_000],
    );
  });

  it('takes byte sizes in bytes or with a unit', () => {
    assert.equal(load(['--max-message-size', '1mb']).maxMessageBytes, 1_048_576);
    assert.equal(load([], { PUSHWIRE_MAX_MESSAGE_SIZE: '1024' }).maxMessageBytes, 1_024);
    const yaml = file('sizes.yaml', 'maxMessageSize: 2048\n');
    assert.equal(load(['--config', yaml]).maxMessageBytes, 2_048);
  });

  it('turns heartbeats and history TTL off with 0 or off', () => {
    assert.equal(load(['--heartbeat-interval', '0']).heartbeatIntervalMs, null);
    assert.equal(load(['--heartbeat-interval=OFF']).heartbeatIntervalMs, null);
    assert.equal(load([], { PUSHWIRE_HISTORY_TTL: 'off' }).historyTtlMs, null);
    const yaml = file('off.yaml', 'historyTtl: 0\nheartbeatInterval:\n');
    const config = load(['--config', yaml]);
    assert.deepEqual([config.historyTtlMs, config.heartbeatIntervalMs], [null, null]);
  });

  it('keeps 0 as a value where it is not a way to turn something off', () => {
    const config = load(['--shutdown-timeout', '0', '--port', '0', '--history-size', '0']);
    assert.deepEqual([config.shutdownTimeoutMs, config.port, config.historySize], [0, 0, 0]);
  });

  it('reads booleans as flags, --no- flags, words and YAML booleans', () => {
    assert.equal(load(['--presence']).presence, true);
    assert.equal(load(['--presence=false']).presence, false);
    assert.equal(load(['--no-demo']).demo, false);
    assert.equal(load([], { PUSHWIRE_CLIENT_PUBLISH: 'yes' }).clientPublish, true);
    assert.equal(load([], { PUSHWIRE_DEMO: '0' }).demo, false);
    const yaml = file('booleans.yaml', 'presence: true\ndemo: off\n');
    const config = load(['--config', yaml]);
    assert.deepEqual([config.presence, config.demo], [true, false]);
  });

  it('reads CORS origins as a comma list, normalised as browsers send them', () => {
    assert.deepEqual(
      load(['--cors-origins', 'HTTPS://App.Example.com:443, http://localhost:3000']).corsOrigins,
      ['https://app.example.com', 'http://localhost:3000'],
    );
    assert.deepEqual(load(['--cors-origins=']).corsOrigins, []);
    const yaml = file('cors.yaml', 'corsOrigins: [https://a.example, "*"]\n');
    assert.deepEqual(load(['--config', yaml]).corsOrigins, ['https://a.example', '*']);
  });

  it('refuses a token public key file that is missing or not a PEM public key', () => {
    assert.throws(
      () => load(['--token-public-key', '/nonexistent/key.pem']),
      /--token-public-key: can't use .*: no such file/,
    );
    const junk = join(dir, file('junk.pem', 'not a key'));
    assert.throws(() => load(['--token-public-key', junk]), /not a PEM public key/);
  });

  it('refuses an HS256 token secret under 32 bytes', () => {
    assert.throws(
      () => load(['--token-secret', 'too-short']),
      /--token-secret: the secret is too short \(use at least 32 bytes/,
    );
  });

  it('keeps strings as given', () => {
    const config = load(
      [
        '--api-key',
        'k3y-of-16-chars!',
        '--token-secret=s=cr=t-of-at-least-thirty-two-bytes',
        '--redis-url',
        'rediss://u:p@cache:6380/2',
      ],
      {
        PUSHWIRE_BROKER: 'redis',
        PUSHWIRE_LOG_LEVEL: 'debug',
        PUSHWIRE_REDIS_PREFIX: 'app1',
      },
    );
    assert.deepEqual(
      [
        config.apiKey,
        config.tokenSecret,
        config.redisUrl,
        config.broker,
        config.logLevel,
        config.redisPrefix,
      ],
      [
        'k3y-of-16-chars!',
        's=cr=t-of-at-least-thirty-two-bytes',
        'rediss://u:p@cache:6380/2',
        'redis',
        'debug',
        'app1',
      ],
    );
  });
});

describe('loadConfig: scale-out options', () => {
  const sentinel = 'redis-sentinel://:pw@s1:26379,s2:26379,[::1]:26380/mymaster/2';

  it('takes Sentinel URLs where Redis URLs are taken', () => {
    assert.equal(load(['--redis-url', sentinel]).redisUrl, sentinel);
    assert.equal(
      load([], { PUSHWIRE_REDIS_URL: 'redis-sentinel://s1/main' }).redisUrl,
      'redis-sentinel://s1/main',
    );
  });

  it('refuses a Sentinel URL that does not name its master', () => {
    const hint = '(use redis://host:port, rediss://host:port or redis-sentinel://host:26379/master)';
    assert.equal(
      problem(['--redis-url', 'redis-sentinel://s1:26379']),
      `--redis-url: "redis-sentinel://s1:26379" is not a Redis URL ${hint}`,
    );
    assert.equal(
      problem(['--redis-url', 'redis://a b:6379']),
      `--redis-url: "redis://a b:6379" is not a Redis URL ${hint}`,
    );
  });

  it('reads shards as a comma list; a Sentinel URL keeps its own commas', () => {
    assert.deepEqual(
      load(['--redis-shards', 'redis://a:6379, rediss://b:6380/1,redis://a:6379']).redisShards,
      ['redis://a:6379', 'rediss://b:6380/1'],
    );
    assert.deepEqual(load([], { PUSHWIRE_REDIS_SHARDS: `${sentinel},redis://c:6379` }).redisShards, [
      sentinel,
      'redis://c:6379',
    ]);
    const yaml = file('shards.yaml', 'redisShards: [redis://a:6379, redis://b:6379]\n');
    assert.deepEqual(load(['--config', yaml]).redisShards, ['redis://a:6379', 'redis://b:6379']);
  });

  it('takes no shards (the default, or an empty list) as redisUrl alone', () => {
    assert.deepEqual(DEFAULTS.redisShards, []);
    assert.deepEqual(load(['--redis-shards=']).redisShards, []);
  });

  it('says which shard is not a Redis URL', () => {
    assert.equal(
      problem(['--redis-shards', 'redis://a:6379,http://b:6379']),
      '--redis-shards: "http://b:6379" is not a Redis URL (use redis://host:port, rediss://host:port or redis-sentinel://host:26379/master)',
    );
    const yaml = file('shards-bad.yaml', 'redisShards: { a: 1 }\n');
    assert.equal(
      problem(['--config', yaml]),
      'shards-bad.yaml: redisShards: {"a":1} is not a list of Redis URLs (use Redis URLs, comma-separated, or nothing for none)',
    );
  });

  it('takes a cluster as seed hosts with --redis-cluster', () => {
    const config = load(['--broker', 'redis', '--redis-cluster', '--redis-url', 'redis://n1:7000,n2:7001']);
    assert.deepEqual([config.redisCluster, config.redisUrl], [true, 'redis://n1:7000,n2:7001']);
    assert.equal(load([], { PUSHWIRE_REDIS_CLUSTER: 'yes' }).redisCluster, true);
    assert.equal(DEFAULTS.redisCluster, false);
  });

  it('never shows the password of a Redis URL it refuses', () => {
    assert.equal(
      problem(['--redis-url', 'redis://u:s3cret@host:port']),
      '--redis-url: "redis://u:***@host:port" is not a Redis URL (use redis://host:port, rediss://host:port or redis-sentinel://host:26379/master)',
    );
    assert.doesNotMatch(problem(['--redis-shards', 'redis://a:1,redis://:s3cret@b:x']), /s3cret/);
  });

  it('refuses seed hosts without --redis-cluster, and a Sentinel with it', () => {
    assert.equal(
      problem(['--broker', 'redis', '--redis-url', 'redis://n1:7000,n2:7001']),
      '--redis-url: "redis://n1:7000,n2:7001" lists several hosts (only a cluster does: add --redis-cluster)',
    );
    assert.equal(
      problem(['--broker', 'redis', '--redis-cluster', '--redis-shards', `redis://a:1,${sentinel}`], {}),
      // Its password is not shown.
      `--redis-shards: ${JSON.stringify(sentinel.replace(':pw@', ':***@'))} is a Sentinel URL (a cluster takes redis:// seed hosts)`,
    );
    assert.equal(
      problem([], { PUSHWIRE_BROKER: 'redis', PUSHWIRE_REDIS_URL: 'rediss://n1,n2' }),
      'PUSHWIRE_REDIS_URL: "rediss://n1,n2" lists several hosts (only a cluster does: add --redis-cluster)',
    );
    // Not checked while the memory broker is in use: the Redis options are not read then.
    assert.equal(load(['--redis-url', 'redis://n1:7000,n2:7001']).broker, 'memory');
  });

  it('takes a presence TTL of at least 3 s, 60 s by default', () => {
    assert.equal(DEFAULTS.presenceTtlMs, 60_000);
    assert.equal(load(['--presence-ttl', '5s']).presenceTtlMs, 5_000);
    assert.equal(load([], { PUSHWIRE_PRESENCE_TTL: '2m' }).presenceTtlMs, 120_000);
    assert.equal(problem(['--presence-ttl', '1s']), '--presence-ttl: "1s" is too short (use at least 3s)');
    assert.equal(
      problem(['--presence-ttl', 'off']),
      '--presence-ttl: "off" is not a duration (use milliseconds or a unit: 500ms, 15s, 2m)',
    );
  });

  it('takes a node lease of at least 300 ms, 15 s by default', () => {
    assert.equal(DEFAULTS.nodeLeaseMs, 15_000);
    assert.equal(load(['--node-lease', '1500ms']).nodeLeaseMs, 1_500);
    assert.equal(load([], { PUSHWIRE_NODE_LEASE: '1m' }).nodeLeaseMs, 60_000);
    assert.equal(
      problem(['--node-lease', '100ms']),
      '--node-lease: "100ms" is too short (use at least 300ms)',
    );
  });
});

describe('loadConfig: config files', () => {
  it('reads a YAML file by camelCase and kebab-case keys', () => {
    const yaml = file(
      'pushwire.yaml',
      [
        'port: 9000',
        'host: 127.0.0.1',
        'heartbeat-interval: 20s',
        'historySize: 10',
        'max-channels: 7',
        'clientPublish: true',
        'broker: redis',
        'logLevel: warn',
        'corsOrigins:',
        '  - https://app.example.com',
        'namespaces:',
        '  game: { presence: true }',
      ].join('\n'),
    );
    const config = load(['--config', yaml]);
    assert.deepEqual(
      [
        config.port,
        config.host,
        config.heartbeatIntervalMs,
        config.historySize,
        config.maxChannelsPerConnection,
      ],
      [9_000, '127.0.0.1', 20_000, 10, 7],
    );
    assert.deepEqual([config.clientPublish, config.broker, config.logLevel], [true, 'redis', 'warn']);
    assert.deepEqual(config.corsOrigins, ['https://app.example.com']);
    assert.equal(config.namespaces.game?.presence, true);
  });

  it('reads a .yml file', () => {
    assert.equal(load(['--config', file('short.yml', 'port: 9001\n')]).port, 9_001);
  });

  it('reads a JSON file', () => {
    const json = file(
      'pushwire.json',
      JSON.stringify({
        port: 9002,
        historyTtl: '1m',
        'max-message-size': '128kb',
        namespaces: { chat: { historySize: 5 } },
      }),
    );
    const config = load(['--config', json]);
    assert.deepEqual([config.port, config.historyTtlMs, config.maxMessageBytes], [9_002, 60_000, 131_072]);
    assert.equal(config.namespaces.chat?.historySize, 5);
  });

  it('takes an empty YAML file as no options', () => {
    assert.deepEqual(load(['--config', file('empty.yaml', '# nothing yet\n')]), DEFAULTS);
  });

  it('finds a relative path from cwd and an absolute one anywhere', () => {
    file('absolute.yaml', 'port: 9003\n');
    assert.equal(
      loadConfig({ argv: ['--config', join(dir, 'absolute.yaml')], env: {}, cwd: '/' }).port,
      9_003,
    );
  });
});

describe('loadConfig: problems', () => {
  it('says what a duration takes, as in the docs', () => {
    assert.equal(
      problem(['--heartbeat-interval', 'abc']),
      '--heartbeat-interval: "abc" is not a duration (use milliseconds or a unit: 500ms, 15s, 2m, or 0/off to disable)',
    );
    assert.equal(
      problem(['--poll-timeout', 'off']),
      '--poll-timeout: "off" is not a duration (use milliseconds or a unit: 500ms, 15s, 2m)',
    );
  });

  it('refuses a poll timeout or heartbeat timeout of 0', () => {
    assert.equal(
      problem(['--poll-timeout', '0']),
      '--poll-timeout: "0" is too short (use a duration above 0)',
    );
    assert.equal(
      problem([], { PUSHWIRE_HEARTBEAT_TIMEOUT: '0s' }),
      'PUSHWIRE_HEARTBEAT_TIMEOUT: "0s" is too short (use a duration above 0)',
    );
  });

  it('refuses timer durations that Node cannot wait for', () => {
    assert.equal(
      problem(['--heartbeat-timeout', '600h']),
      '--heartbeat-timeout: "600h" is too long (use at most 2147483647ms, about 24 days)',
    );
  });

  it('says what an integer takes and its range', () => {
    assert.equal(
      problem(['--port', 'abc']),
      '--port: "abc" is not a whole number (use a whole number from 0 to 65535)',
    );
    assert.equal(
      problem(['--port', '70000']),
      '--port: "70000" is out of range (use a whole number from 0 to 65535)',
    );
    assert.equal(
      problem(['--port', '-1']),
      '--port: "-1" is out of range (use a whole number from 0 to 65535)',
    );
    assert.equal(
      problem([], { PUSHWIRE_HISTORY_SIZE: '100001' }),
      'PUSHWIRE_HISTORY_SIZE: "100001" is out of range (use a whole number from 0 to 100000)',
    );
    assert.equal(
      problem(['--max-channels=0']),
      '--max-channels: "0" is out of range (use a whole number from 1 to 100000)',
    );
    const yaml = file('float.yaml', 'port: 80.5\n');
    assert.equal(
      problem(['--config', yaml]),
      'float.yaml: port: 80.5 is not a whole number (use a whole number from 0 to 65535)',
    );
  });

  it('says what a byte size takes', () => {
    assert.equal(
      problem(['--max-message-size', 'big']),
      '--max-message-size: "big" is not a byte size (use bytes or a unit: 65536, 64kb, 1mb)',
    );
    assert.equal(
      problem(['--max-message-size', '0']),
      '--max-message-size: "0" is too small (use at least 1 byte)',
    );
  });

  it('says what a string takes, and never shows a secret', () => {
    assert.equal(problem(['--host=']), '--host: "" is empty (give a non-empty string)');
    assert.equal(problem(['--api-key=  ']), '--api-key: the value is empty (give a non-empty string)');
    const yaml = file('secret.yaml', 'tokenSecret: 123456789\nredisPrefix: 42\n');
    assert.deepEqual(problems(['--config', yaml]), [
      'secret.yaml: tokenSecret: the value is not a string (quote it)',
      'secret.yaml: redisPrefix: 42 is not a string (quote it)',
    ]);
    assert.equal(
      problem(['--redis-url', 'http://cache:6379']),
      '--redis-url: "http://cache:6379" is not a Redis URL (use redis://host:port, rediss://host:port or redis-sentinel://host:26379/master)',
    );
  });

  it('lists the choices of an enum, with a suggestion when close', () => {
    assert.equal(
      problem(['--broker', 'redsi']),
      '--broker: "redsi" is not one of memory, redis (did you mean redis?)',
    );
    assert.equal(
      problem([], { PUSHWIRE_LOG_LEVEL: 'loud' }),
      'PUSHWIRE_LOG_LEVEL: "loud" is not one of fatal, error, warn, info, debug, trace, silent',
    );
  });

  it('says what a boolean takes', () => {
    const hint = '(use true/false, yes/no, on/off or 1/0)';
    assert.equal(problem([], { PUSHWIRE_DEMO: 'maybe' }), `PUSHWIRE_DEMO: "maybe" is not a boolean ${hint}`);
    assert.equal(problem(['--presence=perhaps']), `--presence: "perhaps" is not a boolean ${hint}`);
    assert.equal(problem(['--no-demo=yes']), '--no-demo: takes no value (write --demo=yes instead)');
    assert.equal(problem(['--no-port']), '--no-port: only on/off options take --no- (give --port a value)');
  });

  it('says what an origin is', () => {
    const hint = '(use * or scheme://host[:port], e.g. https://example.com)';
    assert.equal(
      problem(['--cors-origins', 'https://a.example/app']),
      `--cors-origins: "https://a.example/app" is not an origin ${hint}`,
    );
    assert.equal(
      problem([], { PUSHWIRE_CORS_ORIGINS: 'ftp://files' }),
      `PUSHWIRE_CORS_ORIGINS: "ftp://files" is not an origin ${hint}`,
    );
    const yaml = file('cors-bad.yaml', 'corsOrigins: { a: 1 }\n');
    assert.equal(
      problem(['--config', yaml]),
      'cors-bad.yaml: corsOrigins: {"a":1} is not a list of origins (use * or origins scheme://host[:port], comma-separated)',
    );
  });

  it('says when a flag has no value', () => {
    assert.equal(problem(['--port']), '--port: missing value (use a whole number from 0 to 65535)');
    assert.equal(problem(['--host', '--port', '1']), '--host: missing value (give a non-empty string)');
    assert.equal(
      problem(['--config']),
      '--config: missing value (give the path of a .yaml, .yml or .json file)',
    );
  });

  it('refuses arguments that are not flags', () => {
    assert.equal(problem(['extra']), '"extra": unexpected argument (serve takes only --flags; see --help)');
    assert.equal(
      problem(['--', '--port']),
      '"--port": unexpected argument (serve takes only --flags; see --help)',
    );
    assert.deepEqual(problems(['--port', '1', 'a', '--demo', 'b']), [
      '"a": unexpected argument (serve takes only --flags; see --help)',
      '"b": unexpected argument (serve takes only --flags; see --help)',
    ]);
  });

  it('reports every problem at once, flags first, then env, then file', () => {
    const yaml = file('many.yaml', 'historySize: lots\nbogus: 1\n');
    assert.deepEqual(problems(['--config', yaml, '--port', 'x', '--prot', '1'], { PUSHWIRE_DEMO: 'maybe' }), [
      '--prot: unknown flag (did you mean --port?)',
      '--port: "x" is not a whole number (use a whole number from 0 to 65535)',
      'PUSHWIRE_DEMO: "maybe" is not a boolean (use true/false, yes/no, on/off or 1/0)',
      'many.yaml: bogus: unknown option',
      'many.yaml: historySize: "lots" is not a whole number (use a whole number from 0 to 100000)',
    ]);
  });

  it('checks values that a higher source overrides too', () => {
    assert.equal(
      problem(['--port', '1'], { PUSHWIRE_PORT: 'x' }),
      'PUSHWIRE_PORT: "x" is not a whole number (use a whole number from 0 to 65535)',
    );
  });
});

describe('loadConfig: unknown options', () => {
  it('suggests the flag meant', () => {
    assert.equal(problem(['--prot', '80']), '--prot: unknown flag (did you mean --port?)');
    assert.equal(
      problem(['--hearbeat-interval=1s']),
      '--hearbeat-interval: unknown flag (did you mean --heartbeat-interval?)',
    );
    assert.equal(
      problem(['--heartbeat-interval-ms', '5']),
      '--heartbeat-interval-ms: unknown flag (did you mean --heartbeat-interval?)',
    );
    assert.equal(
      problem(['--max-channels-per-connection', '5']),
      '--max-channels-per-connection: unknown flag (did you mean --max-channels?)',
    );
    assert.equal(problem(['--conifg', 'x.yaml']), '--conifg: unknown flag (did you mean --config?)');
  });

  it('says only "unknown" when nothing is close', () => {
    assert.deepEqual(problems(['--zebra', '-x']), ['--zebra: unknown flag', '-x: unknown flag']);
  });

  it('suggests the env var meant, and leaves other variables alone', () => {
    assert.equal(
      problem([], { PUSHWIRE_PORTT: '1' }),
      'PUSHWIRE_PORTT: unknown environment variable (did you mean PUSHWIRE_PORT?)',
    );
    assert.equal(
      problem([], { PUSHWIRE_HEARTBEAT_INTERVAL_MS: '1' }),
      'PUSHWIRE_HEARTBEAT_INTERVAL_MS: unknown environment variable (did you mean PUSHWIRE_HEARTBEAT_INTERVAL?)',
    );
    assert.equal(
      load([], { PUSHWIRE_TEST_CONCURRENCY: '1', PUSHWIRE_BENCH_CLIENTS: '9', PATH: '/bin', PORT: 'x' }).port,
      8_080,
    );
  });

  it('suggests the file key meant, including Config field spellings', () => {
    const yaml = file('typos.yaml', 'historyTll: 1m\nheartbeatIntervalMs: 5000\nhistory-ttl: 1m\n');
    assert.deepEqual(problems(['--config', yaml]), [
      'typos.yaml: historyTll: unknown option (did you mean historyTtl?)',
      'typos.yaml: heartbeatIntervalMs: unknown option (did you mean heartbeatInterval?)',
    ]);
  });

  it('refuses one option given twice in one file', () => {
    const yaml = file('twice.yaml', 'historyTtl: 1m\nhistory-ttl: 2m\n');
    assert.equal(
      problem(['--config', yaml]),
      'twice.yaml: history-ttl: set twice (also as historyTtl; keep one)',
    );
  });
});

describe('loadConfig: file problems', () => {
  it('says when the file cannot be read', () => {
    assert.equal(
      problem(['--config', 'missing.yaml']),
      '--config: cannot read "missing.yaml" (no such file)',
    );
    assert.equal(
      problem([], { PUSHWIRE_CONFIG: 'missing.json' }),
      'PUSHWIRE_CONFIG: cannot read "missing.json" (no such file)',
    );
  });

  it('refuses other file types', () => {
    assert.equal(
      problem(['--config', file('pushwire.toml', 'port = 1\n')]),
      '--config: "pushwire.toml" is not a .yaml, .yml or .json file',
    );
  });

  it('says where YAML and JSON are broken', () => {
    const yaml = file('broken.yaml', 'port: 1\nport: 2\n');
    assert.equal(
      problem(['--config', yaml]),
      'broken.yaml: not valid YAML (Map keys must be unique at line 2, column 1)',
    );
    const json = file('broken.json', '{"port": 1,}');
    assert.match(problem(['--config', json]), /^broken\.json: not valid JSON \(.+\)$/);
  });

  it('shows a value that contains itself without failing', () => {
    const yaml = file('alias.yaml', 'corsOrigins: &self [*self]\n');
    assert.match(problem(['--config', yaml]), /^alias\.yaml: corsOrigins: a list is not a list of origins/);
  });

  it('refuses a file that is not a mapping', () => {
    assert.equal(
      problem(['--config', file('list.yaml', '- port\n')]),
      'list.yaml: must hold a mapping of options (e.g. port: 8080)',
    );
  });
});

describe('loadConfig: result', () => {
  it('is deep-frozen', () => {
    const yaml = file(
      'frozen.yaml',
      'namespaces: { game: { presence: true } }\ncorsOrigins: [https://a.example]\n',
    );
    const config = load(['--config', yaml]);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.corsOrigins));
    assert.ok(Object.isFrozen(config.namespaces));
    assert.ok(Object.isFrozen(config.namespaces.game));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => (config.corsOrigins as string[]).push('x'), TypeError);
  });

  it('leaves DEFAULTS as they were', () => {
    load(['--port', '1', '--cors-origins', 'https://a.example']);
    assert.equal(DEFAULTS.port, 8_080);
    assert.deepEqual(DEFAULTS.corsOrigins, []);
    assert.ok(Object.isFrozen(DEFAULTS));
  });
});

describe('configHelp', () => {
  it('lists every flag with its env var and default', () => {
    const help = configHelp();
    for (const spec of OPTIONS) {
      if (spec.flag !== null) assert.ok(help.includes(`--${spec.flag}`), spec.flag);
      if (spec.flag !== null) assert.ok(help.includes(spec.env), spec.env);
    }
    assert.match(help, /--config <path>/);
    assert.match(help, /--demo, --no-demo +serve a demo page at \/\n +default true; env PUSHWIRE_DEMO/);
    assert.match(help, /--heartbeat-interval <duration> +.+\n +default 15s; env PUSHWIRE_HEARTBEAT_INTERVAL/);
  });
});

describe('workers', () => {
  it('takes a count, or auto for one per core', () => {
    assert.equal(load().workers, 1);
    assert.equal(load(['--workers', '4']).workers, 4);
    assert.equal(load([], { PUSHWIRE_WORKERS: 'auto' }).workers, availableParallelism());
  });

  it('refuses 0 and words other than auto, saying what it takes', () => {
    assert.match(problem(['--workers', '0']), /--workers.*out of range/);
    assert.match(problem(['--workers', 'many']), /use a whole number from 1 to 256, or auto/);
  });
});
