import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Config, ConfigError, DEFAULTS, loadConfig, resolveChannelOptions } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'pushwire-namespaces-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function loadYaml(yaml: string, argv: string[] = [], env: Record<string, string> = {}): Config {
  writeFileSync(join(dir, 'pushwire.yaml'), yaml);
  return loadConfig({ argv: ['--config', 'pushwire.yaml', ...argv], env, cwd: dir });
}

function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

/** The hook fields every resolved namespace has, as the defaults set them. */
const HOOKS_OFF = { hooks: true, subscribeHook: false, publishHook: false, public: false };

const GAME = `
historySize: 20
historyTtl: 10m
namespaces:
  game:
    clientPublish: true
    historySize: 50
    historyTtl: 1m
    presence: true
  chat:
    presence: true
  audit:
    history-ttl: off
  plain:
`;

describe('namespaces', () => {
  it('give a channel ns:name the options of namespace ns', () => {
    const config = loadYaml(GAME);
    assert.deepEqual(resolveChannelOptions(config, 'game:lobby'), {
      clientPublish: true,
      historySize: 50,
      historyTtlMs: 60_000,
      historyMinAgeMs: 120_000,
      presence: true,
      ...HOOKS_OFF,
    });
  });

  it('fill what a namespace leaves out from the top-level values', () => {
    const config = loadYaml(GAME, ['--client-publish'], { PUSHWIRE_HISTORY_SIZE: '30' });
    assert.deepEqual(resolveChannelOptions(config, 'chat:room-1'), {
      clientPublish: true,
      historySize: 30,
      historyTtlMs: 600_000,
      historyMinAgeMs: 120_000,
      presence: true,
      ...HOOKS_OFF,
    });
    assert.deepEqual(resolveChannelOptions(config, 'audit:log'), {
      clientPublish: true,
      historySize: 30,
      historyTtlMs: null,
      historyMinAgeMs: 120_000,
      presence: false,
      ...HOOKS_OFF,
    });
    assert.deepEqual(resolveChannelOptions(config, 'plain:x'), resolveChannelOptions(config, 'x'));
  });

  it('give channels without a namespace, or with an unknown one, the top-level values', () => {
    const config = loadYaml(GAME);
    const top = {
      clientPublish: false,
      historySize: 20,
      historyTtlMs: 600_000,
      historyMinAgeMs: 120_000,
      presence: false,
      ...HOOKS_OFF,
    };
    assert.deepEqual(resolveChannelOptions(config, 'news'), top);
    assert.deepEqual(resolveChannelOptions(config, 'sport:scores'), top);
    assert.deepEqual(resolveChannelOptions(config, 'toString:x'), top);
    assert.deepEqual(resolveChannelOptions(DEFAULTS, 'game:lobby'), {
      clientPublish: false,
      historySize: 100,
      historyTtlMs: 300_000,
      historyMinAgeMs: 120_000,
      presence: false,
      ...HOOKS_OFF,
    });
  });

  it('resolve for a Config built by hand', () => {
    const config: Config = { ...DEFAULTS, presence: true };
    assert.equal(resolveChannelOptions(config, 'a').presence, true);
    assert.ok(Object.isFrozen(resolveChannelOptions(config, 'a')));
  });

  it('can come from PUSHWIRE_NAMESPACES as JSON, over the file', () => {
    const config = loadYaml(GAME, [], { PUSHWIRE_NAMESPACES: '{"live":{"historySize":5,"historyTtl":"0"}}' });
    assert.deepEqual(Object.keys(config.namespaces), ['live']);
    assert.deepEqual(resolveChannelOptions(config, 'live:1'), {
      clientPublish: false,
      historySize: 5,
      historyTtlMs: null,
      historyMinAgeMs: 120_000,
      presence: false,
      ...HOOKS_OFF,
    });
  });

  it('keep a namespace named __proto__ as plain data', () => {
    const config = loadYaml('namespaces:\n  __proto__: { presence: true }\n');
    assert.equal(resolveChannelOptions(config, '__proto__:x').presence, true);
    assert.equal(Object.getPrototypeOf(config.namespaces), Object.prototype);
  });

  it('report every bad name, field and value with its place', () => {
    const yaml = `
namespaces:
  "bad name": {}
  game:
    historySize: -1
    historyTl: 1m
    clientPublish: sometimes
    colour: red
  chat: 5
`;
    assert.deepEqual(
      problemsOf(() => loadYaml(yaml)),
      [
        'pushwire.yaml: namespaces.bad name: invalid namespace name (use letters, digits and _ . @ = -)',
        'pushwire.yaml: namespaces.game.historySize: -1 is out of range (use a whole number from 0 to 100000)',
        'pushwire.yaml: namespaces.game.historyTl: not a namespace option (did you mean historyTtl?)',
        'pushwire.yaml: namespaces.game.clientPublish: "sometimes" is not a boolean (use true/false, yes/no, on/off or 1/0)',
        'pushwire.yaml: namespaces.game.colour: not a namespace option (use historySize, historyTtl, historyMinAge, clientPublish, presence, hooks, subscribeHook, publishHook, public)',
        'pushwire.yaml: namespaces.chat: 5 is not a mapping of options (use historySize, historyTtl, historyMinAge, clientPublish, presence, hooks, subscribeHook, publishHook, public)',
      ],
    );
  });

  it('report a namespaces value that is not a mapping, and bad JSON in the env var', () => {
    assert.deepEqual(
      problemsOf(() => loadYaml('namespaces: [game]\n')),
      [
        'pushwire.yaml: namespaces: ["game"] is not a mapping of namespace names to options (e.g. game: { presence: true })',
      ],
    );
    assert.deepEqual(
      problemsOf(() => loadConfig({ env: { PUSHWIRE_NAMESPACES: '{game' }, cwd: dir })),
      ['PUSHWIRE_NAMESPACES: "{game" is not JSON (give an object such as {"game":{"clientPublish":true}})'],
    );
    assert.deepEqual(
      problemsOf(() =>
        loadConfig({ env: { PUSHWIRE_NAMESPACES: '{"game":{"historyTtl":"soon"}}' }, cwd: dir }),
      ),
      [
        'PUSHWIRE_NAMESPACES: game.historyTtl: "soon" is not a duration (use milliseconds or a unit: 500ms, 15s, 2m, or 0/off to disable)',
      ],
    );
  });

  it('are checked in the file even while PUSHWIRE_NAMESPACES replaces them', () => {
    const env = { PUSHWIRE_NAMESPACES: '{"live":{}}' };
    assert.deepEqual(
      problemsOf(() => loadYaml('namespaces: { game: { presence: maybe } }\n', [], env)),
      [
        'pushwire.yaml: namespaces.game.presence: "maybe" is not a boolean (use true/false, yes/no, on/off or 1/0)',
      ],
    );
  });

  it('are deep-frozen', () => {
    const config = loadYaml(GAME);
    assert.ok(Object.isFrozen(config.namespaces));
    assert.ok(Object.isFrozen(config.namespaces.game));
    assert.throws(() => {
      (config.namespaces.game as { presence: boolean }).presence = false;
    }, TypeError);
  });
});
