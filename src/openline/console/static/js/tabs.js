// WAI-ARIA tabs over server-rendered links: without JS each tab is a link to ?tab=…;
// with it, tabs switch in place and follow the arrow keys, Home and End.

export function enhanceTabs(root) {
  for (const list of root.querySelectorAll('[role="tablist"]')) {
    const tabs = [...list.querySelectorAll('[role="tab"]')];

    const select = (tab, focus) => {
      for (const each of tabs) {
        const on = each === tab;
        each.setAttribute('aria-selected', String(on));
        each.tabIndex = on ? 0 : -1;
        const panel = document.getElementById(each.getAttribute('aria-controls'));
        if (panel) panel.hidden = !on;
      }
      if (focus) tab.focus();
      const url = new URL(window.location.href);
      url.searchParams.set('tab', tab.dataset.tab);
      window.history.replaceState(null, '', url);
      list.dispatchEvent(new CustomEvent('tabchange', { detail: tab.dataset.tab, bubbles: true }));
    };

    list.addEventListener('click', (event) => {
      const tab = event.target.closest('[role="tab"]');
      if (!tab || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      select(tab, true);
    });

    list.addEventListener('keydown', (event) => {
      const index = tabs.indexOf(document.activeElement);
      if (index < 0) return;
      const moves = {
        ArrowRight: tabs[(index + 1) % tabs.length],
        ArrowLeft: tabs[(index - 1 + tabs.length) % tabs.length],
        Home: tabs[0],
        End: tabs[tabs.length - 1],
        ' ': tabs[index],
      };
      const next = moves[event.key];
      if (!next) return;
      event.preventDefault();
      select(next, true);
    });
  }
}
