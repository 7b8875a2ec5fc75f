// A topic the cluster does not have: a clear banner, and the page stays usable.
import { test, expect, screenshot, shownOffsets, expectState } from './stack.mjs';

test('a missing topic shows its error banner and the page stays usable', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ topic: 'no-such-topic', partition: '0' }));
  const banner = page.getByTestId('banner');
  await expect(banner).toBeVisible();
  await expect(banner).toHaveAttribute('data-kind', 'topic-missing');
  await expect(banner).toContainText('Topic "no-such-topic" not found');
  await expect(banner).toContainText('not found topic'); // the gateway's own words
  await expectState(page, 'error');
  await expect(page.getByTestId('records')).toBeEmpty();
  await screenshot(page, 'missing-topic');

  // Switch to an existing topic from the form: the page recovers.
  await stack.produce('recover', 0, ['plain text value']);
  await page.getByTestId('topic-input').fill('recover');
  await page.getByTestId('connect-button').click();
  await expectState(page, 'live');
  await expect(banner).toBeHidden();
  await expect.poll(() => shownOffsets(page)).toEqual([0]);
  await expect(page.locator('[data-testid="record"][data-offset="0"]')).toContainText('plain text value');
  expect(new URL(page.url()).searchParams.get('topic')).toBe('recover');
});
