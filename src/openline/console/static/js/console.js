// Every console page: keyboard-operable tabs, readable JSON in expanded details, and
// filters that apply as soon as a choice is made.
import { enhanceTabs } from './tabs.js';

enhanceTabs(document);

// Metadata is sent compact (fast to render by the thousand); it is laid out on opening.
document.addEventListener('toggle', (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open) return;
  for (const pre of details.querySelectorAll('pre.json:not([data-pretty])')) {
    pre.dataset.pretty = '1';
    try {
      pre.textContent = JSON.stringify(JSON.parse(pre.textContent), null, 2);
    } catch {
      // not JSON: leave it as it is
    }
  }
}, true);

for (const select of document.querySelectorAll('select[data-autosubmit]')) {
  select.addEventListener('change', () => select.form.requestSubmit());
}
