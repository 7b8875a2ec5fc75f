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
    const records = await client.fetch(topic, 0, 0n);
    client.close();
    window.kpgResult = { pong: text(pong), latest: String(latest), values: records.map((r) => text(r.value)) };
  } catch (error) {
    window.kpgResult = { error: error.message, code: error.code };
  }
}
