// The filter box's form parsing and the current-state table's content (DOM-free parts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeFilter, parseFilterForm, parseValues } from '../../../web-demo/filter-box.mjs';
import { LatestByKey, MAX_KEYS, valueSummary } from '../../../web-demo/state-view.mjs';

const bytes = (text) => new TextEncoder().encode(text);

test('the filter form gives one condition of each kind, or none', () => {
  assert.deepEqual(parseFilterForm({ kind: 'none' }), []);
  assert.deepEqual(parseFilterForm({ kind: 'keyEquals', first: 'ada' }), [{ kind: 'keyEquals', key: 'ada' }]);
  assert.deepEqual(parseFilterForm({ kind: 'keyPrefix', first: 'thermo' }), [{ kind: 'keyPrefix', prefix: 'thermo' }]);
  assert.deepEqual(parseFilterForm({ kind: 'header', first: 'region', second: 'eu' }),
    [{ kind: 'header', key: 'region', value: 'eu' }]);
  assert.deepEqual(parseFilterForm({ kind: 'jsonIn', first: ' /status ', second: 'paid, payment_pending' }),
    [{ kind: 'jsonIn', path: '/status', values: ['paid', 'payment_pending'] }]);
  assert.deepEqual(parseFilterForm({ kind: 'jsonCompare', first: '/total_cents', second: '5000', op: '>' }),
    [{ kind: 'jsonCompare', path: '/total_cents', op: '>', value: 5000 }]);
});

test('the filter form says what to fix', () => {
  assert.throws(() => parseFilterForm({ kind: 'keyEquals', first: '' }), /Enter the key/);
  assert.throws(() => parseFilterForm({ kind: 'jsonIn', first: '/s', second: ' , ' }), /at least one value/);
  assert.throws(() => parseFilterForm({ kind: 'jsonCompare', first: '/n', second: 'ten' }), /not a number/);
});

test('JSON values are typed where they parse as JSON, text otherwise', () => {
  assert.deepEqual(parseValues('paid, 3, true, null, "3", "a,b", two words'),
    ['paid', 3, true, null, '3', 'a,b', 'two words']);
  assert.equal(describeFilter([{ kind: 'jsonIn', path: '/s', values: ['a', 1] }, { kind: 'keyPrefix', prefix: 'x' }]),
    '/s in ["a",1] and key starts with "x"');
});

test('the state table keeps the latest value per key and drops tombstoned keys', () => {
  const state = new LatestByKey();
  const record = (key, value, offset, snapshot = false) => ({
    key: bytes(key), value: bytes(value), offset: BigInt(offset), partition: 1, snapshot,
    headers: [{ key: bytes('region'), value: bytes('eu') }],
  });
  state.apply([record('boiler', '{"status":"ok","temperature_c":65}', 3, true), record('lab', 'plain', 4, true)]);
  assert.equal(state.rows.size, 2);
  assert.equal(state.rows.get('boiler').origin, 'snapshot');
  assert.equal(state.rows.get('boiler').region, 'eu');
  assert.equal(valueSummary(state.rows.get('boiler')), 'status: ok · temperature_c: 65');
  assert.equal(valueSummary(state.rows.get('lab')), 'plain');
  assert.deepEqual(state.apply([record('boiler', '{"status":"alarm"}', 9), record('lab', '', 10)]), ['boiler', 'lab']);
  assert.equal(state.rows.get('boiler').origin, 'live');
  assert.equal(state.rows.get('boiler').offset, 9n);
  assert.equal(state.rows.has('lab'), false, 'a tombstone removes the row');
  assert.deepEqual(state.apply([record('lab', '', 11)]), [], 'removing a missing key changes nothing');
  for (let i = 0; i < MAX_KEYS + 5; i++) state.apply([record(`k${i}`, 'v', 20 + i)]);
  assert.equal(state.rows.size, MAX_KEYS);
  assert.equal(state.dropped, 6);
});
