import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replyJson } from './encodings.ts';

test('a subscribe reply built by hand is the JSON of the outcome, whatever the command id', () => {
  const result = {
    op: 'subscribe',
    channel: '$system:a.b@c=d-e_f',
    epoch: 'Ep0ch_-9',
    offset: 42,
    cursor: '1~$system:a.b@c=d-e_f~Ep0ch_-9~42',
  } as const;
  for (const id of [7, 'a "quoted" \\ id', undefined]) {
    const { op: _op, ...fields } = result;
    assert.deepEqual(JSON.parse(replyJson(id, result)), {
      ...(id === undefined ? {} : { id }),
      op: 'reply',
      ...fields,
    });
  }
});
