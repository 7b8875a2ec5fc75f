// The web demo's DOM-free formatting (web-demo/format.mjs) and rate meter (web-demo/rates.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeKey, describeValue, formatSize, hexDumpSegments, jsonSegments, normalizeHeaders,
} from '../../../web-demo/format.mjs';
import { formatRate, RateMeter, sparkPath, SPARK_SECONDS } from '../../../web-demo/rates.mjs';

const bytes = (text) => new TextEncoder().encode(text);
const flat = (segments) => segments.map((s) => (typeof s === 'string' ? s : s.text)).join('');

test('values are JSON (literals kept as written), text, binary or empty', () => {
  const json = describeValue(bytes(' {"price": 12.50, "id": 12345678901234567890, "ok": [true, null]} '));
  assert.equal(json.kind, 'json');
  assert.equal(flat(jsonSegments(json.tokens, false)), '{"price":12.50,"id":12345678901234567890,"ok":[true,null]}');
  assert.equal(flat(jsonSegments(json.tokens, true)),
    '{\n  "price": 12.50,\n  "id": 12345678901234567890,\n  "ok": [\n    true,\n    null\n  ]\n}');
  assert.deepEqual(jsonSegments(json.tokens, false)[1], { text: '"price"', cls: 'j-key' });
  assert.equal(describeValue(bytes('hello {')).kind, 'text');
  assert.equal(describeValue(new Uint8Array([0, 1, 2])).kind, 'binary');
  assert.equal(describeValue(new Uint8Array([0xff])).kind, 'binary');
  assert.equal(describeValue(new Uint8Array()).kind, 'empty');
  assert.equal(describeValue(bytes('abcdef'), 3).text, 'abc');
  assert.deepEqual(describeKey(new Uint8Array([1, 255])), { kind: 'binary', text: '01 ff' });
});

test('hex dumps show offsets, two groups of eight and ASCII', () => {
  const dump = flat(hexDumpSegments(bytes('ABCDEFGHIJKLMNOPQ')));
  assert.equal(dump,
    '00000000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|\n' +
    '00000010  51                                                |Q|\n');
  assert.match(flat(hexDumpSegments(new Uint8Array(5000))), /… 904 more bytes$/);
  assert.equal(formatSize(2048), '2.0 KiB');
});

test('headers of any shape become [{key, value bytes}]', () => {
  const expected = [{ key: 'a', value: bytes('1') }, { key: 'b', value: null }];
  assert.deepEqual(normalizeHeaders([{ key: 'a', value: bytes('1') }, { key: 'b', value: null }]), expected);
  assert.deepEqual(normalizeHeaders([['a', '1'], ['b', null]]), expected);
  assert.deepEqual(normalizeHeaders(new Map([['a', '1'], ['b', undefined]])), expected);
  assert.deepEqual(normalizeHeaders({ a: '1', b: null }), expected);
  // As the SDK gives them: keys and values both bytes.
  assert.deepEqual(normalizeHeaders([{ key: bytes('a'), value: bytes('1') }, { key: bytes('b'), value: null }]), expected);
  assert.deepEqual(normalizeHeaders(undefined), []);
  assert.deepEqual(normalizeHeaders(42), []);
});

test('the rate meter averages over 5 s once a second has passed', () => {
  let now = 0;
  const meter = new RateMeter(() => now);
  meter.add(10);
  now = 500;
  assert.equal(meter.perSecond(), null);
  assert.equal(formatRate(meter.perSecond(), true), '…');
  now = 2000;
  meter.add(30);
  assert.equal(meter.perSecond(), 20);
  now = 10_000;
  assert.equal(meter.perSecond(), 0);
  assert.equal(formatRate(12345.6, true), '12,346');
  assert.equal(formatRate(2.25, true), '2.3');
  assert.equal(formatRate(5, false), '–');
  const buckets = meter.buckets(2500);
  assert.equal(buckets.length, SPARK_SECONDS);
  assert.deepEqual(buckets.slice(-3), [10, 0, 30]);
  assert.equal(sparkPath(new Array(SPARK_SECONDS).fill(0)), '');
  assert.match(sparkPath(buckets), /^M\d/);
});
