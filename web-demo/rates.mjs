// Records per second: records written after the read started, as they arrive, over a sliding
// window, plus one-second buckets for a sparkline. The meter is a plain object with a clock
// (performance.now by default) so it can be tested without a page.

export const RATE_WINDOW_MS = 5000; // records/s is averaged over this window
export const SPARK_SECONDS = 30; // the sparkline shows this many one-second buckets

export class RateMeter {
  constructor(now = () => performance.now()) {
    this.now = now;
    this.events = []; // [timeMs, count], last SPARK_SECONDS only
    this.since = now();
  }

  reset() {
    this.events = [];
    this.since = this.now();
  }

  add(count) {
    if (count > 0) this.events.push([this.now(), count]);
  }

  /** Records per second over the window, or null during the first second of a read. */
  perSecond(now = this.now()) {
    while (this.events.length && now - this.events[0][0] > SPARK_SECONDS * 1000) this.events.shift();
    const window = Math.min(RATE_WINDOW_MS, now - this.since);
    if (window < 1000) return null;
    let total = 0;
    for (const [t, n] of this.events) if (now - t <= RATE_WINDOW_MS) total += n;
    return (total * 1000) / window;
  }

  /** Records per one-second bucket, oldest first, the last SPARK_SECONDS seconds. */
  buckets(now = this.now()) {
    const buckets = new Array(SPARK_SECONDS).fill(0);
    for (const [t, n] of this.events) {
      const age = Math.floor((now - t) / 1000);
      if (age >= 0 && age < SPARK_SECONDS) buckets[SPARK_SECONDS - 1 - age] += n;
    }
    return buckets;
  }
}

/** The rate as the page shows it: '–' when not reading, '…' before the first second. */
export function formatRate(value, live) {
  if (!live) return '–';
  if (value === null) return '…';
  return value < 10 ? value.toFixed(1) : Math.round(value).toLocaleString('en-US');
}

/** The SVG path of the sparkline's bars in a 120 × 32 view box. */
export function sparkPath(buckets) {
  const max = Math.max(1, ...buckets);
  const width = 120 / buckets.length;
  let d = '';
  buckets.forEach((n, i) => {
    if (n === 0) return;
    const h = Math.max(1.5, (n / max) * 30);
    d += `M${(i * width + 0.25).toFixed(2)} 32v${(-h).toFixed(2)}h${(width - 0.5).toFixed(2)}v${h.toFixed(2)}z`;
  });
  return d;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Draws the meter into an <svg viewBox="0 0 120 32">. */
export function drawSparkline(svg, meter, now) {
  let path = svg.firstElementChild;
  if (!path) {
    const base = document.createElementNS(SVG_NS, 'path');
    base.setAttribute('d', 'M0 31.5H120');
    base.setAttribute('class', 'spark-base');
    path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('class', 'spark-bars');
    svg.append(path, base);
  }
  path.setAttribute('d', sparkPath(meter.buckets(now)));
}
