// Small DOM helpers shared by the page's views.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Appends format.mjs segments to `node`: strings as text, {text, cls} as styled spans. */
export function appendSegments(node, segments) {
  for (const s of segments) node.append(typeof s === 'string' ? s : el('span', s.cls, s.text));
}
