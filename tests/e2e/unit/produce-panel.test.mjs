// The produce panel's DOM-free parts: header lines, the partition field, and what the panel says
// when the connection cannot write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHeaders, parseProducePartition, unavailableText } from '../../../web-demo/produce-panel.mjs';

test('headers are key=value lines; the first = separates; blank lines are skipped', () => {
  assert.deepEqual(parseHeaders('source=web\n\ntrace=a=b\r\nempty='), {
    headers: [['source', 'web'], ['trace', 'a=b'], ['empty', '']],
  });
  assert.deepEqual(parseHeaders(''), { headers: [] });
  assert.match(parseHeaders('ok=1\nbroken').error, /line 2 \("broken"\) is not key=value/);
  assert.match(parseHeaders('=value').error, /line 1/);
});

test('the partition field is empty (the partitioner) or a partition number', () => {
  assert.deepEqual(parseProducePartition(' '), { partition: undefined });
  assert.deepEqual(parseProducePartition('2'), { partition: 2 });
  assert.match(parseProducePartition('-1').error, /not a partition number/);
  assert.match(parseProducePartition('2147483648').error, /not a partition number/);
});

test('the panel explains why it is off', () => {
  assert.match(unavailableText(null), /Connect/);
  assert.match(unavailableText({ mode: 'apisix' }), /read-only/);
  assert.match(unavailableText({ mode: 'kpg' }), /plugins\.kafka-proxy\.produce/);
});
