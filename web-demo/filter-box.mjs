// The reader's filter box: what the form says, turned into the SDK's filter conditions (plain
// literals, checked again by the SDK and then by the gateway). Pure functions, tested by node.

export const FILTER_KINDS = {
  none: { label: 'No filter', first: null, second: null },
  keyEquals: { label: 'Key equals', first: 'key', second: null },
  keyPrefix: { label: 'Key starts with', first: 'prefix', second: null },
  header: { label: 'Header equals', first: 'header key', second: 'value' },
  jsonIn: { label: 'JSON field is one of', first: 'JSON path, e.g. /status', second: 'values, comma-separated' },
  jsonCompare: { label: 'JSON field compares', first: 'JSON path, e.g. /total_cents', second: 'number' },
};

// "paid, 3, true, null, \"a,b\"": JSON scalars where the item is one ("3" is a number, "\"3\"" a
// string), else the trimmed text as a string.
export function parseValues(text) {
  const items = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/g;
  let m;
  while ((m = re.exec(text)) !== null && m.index < text.length) {
    const item = m[1].trim();
    if (item !== '') {
      let value = item;
      try {
        const parsed = JSON.parse(item);
        if (parsed === null || ['string', 'number', 'boolean'].includes(typeof parsed)) value = parsed;
      } catch {
        // not JSON: the text itself
      }
      items.push(value);
    }
    if (m[0] === '') break;
  }
  return items;
}

/**
 * {kind, first, second, op} from the form -> an array of filter conditions ([] for no filter).
 * Throws an Error saying what to fix.
 */
export function parseFilterForm({ kind, first = '', second = '', op = '>=' }) {
  const spec = FILTER_KINDS[kind];
  if (!spec) throw new Error(`Unknown filter kind "${kind}".`);
  if (kind === 'none') return [];
  if (first === '' && kind !== 'jsonIn' && kind !== 'jsonCompare') throw new Error(`Enter the ${spec.first}.`);
  switch (kind) {
    case 'keyEquals': return [{ kind, key: first }];
    case 'keyPrefix': return [{ kind, prefix: first }];
    case 'header': return [{ kind, key: first, value: second }];
    case 'jsonIn': {
      const values = parseValues(second);
      if (values.length === 0) throw new Error('Enter at least one value the JSON field may equal.');
      return [{ kind, path: first.trim(), values }];
    }
    default: {
      const text = second.trim();
      const value = Number(text);
      if (text === '' || !Number.isFinite(value)) throw new Error(`"${second}" is not a number to compare with.`);
      return [{ kind, path: first.trim(), op, value }];
    }
  }
}

/** A short description of conditions, for the notice shown while a filter is on. */
export function describeFilter(conditions) {
  return conditions.map((c) => {
    switch (c.kind) {
      case 'keyEquals': return `key = "${c.key}"`;
      case 'keyPrefix': return `key starts with "${c.prefix}"`;
      case 'header': return `header ${c.key} = "${c.value}"`;
      case 'jsonIn': return `${c.path || '(value)'} in ${JSON.stringify(c.values)}`;
      default: return `${c.path || '(value)'} ${c.op} ${c.value}`;
    }
  }).join(' and ');
}
