// The tiny web app the bundler tests build: one real round trip through @kpg/sdk, reported on
// window.kpgResult ({pong, latest, values} or {error, code}).
import { connect, text } from '@kpg/sdk';

export async function run(options = {}) {
  const params = new URLSearchParams(location.search);
  try {
    const client = await connect(params.get('gateway'), options);
    const pong = await client.ping('bundled');
    const topic = params.get('topic');
    const latest = await client.listOffsets(topic, 0, 'latest');
    // One fetch answers with what the broker had delivered at that moment, which under load may
    // be less than the partition holds: fetch up to its end.
    const values = [];
    let next = 0n;
    for (let i = 0; i < 50 && next < BigInt(latest); i++) {
      for (const r of await client.fetch(topic, 0, next)) {
        values.push(text(r.value));
        next = r.offset + 1n;
      }
    }
    client.close();
    window.kpgResult = { pong: text(pong), latest: String(latest), values };
  } catch (error) {
    window.kpgResult = { error: error.message, code: error.code };
  }
}
