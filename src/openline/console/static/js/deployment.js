// A deployment's build and runtime logs, live, from the API's log tail: on the
// deployment page, and for the live deployment on its agent's page. Each follower is an
// element with data-deployment-id and data-after (the last line already shown); the
// parts it fills are optional: [data-live=build|runtime|follow], [data-field=…].

for (const root of document.querySelectorAll('[data-deployment-id]')) follow(root);

function follow(root) {
  const id = root.dataset.deploymentId;
  const build = root.querySelector('[data-live="build"]');
  const runtime = root.querySelector('[data-live="runtime"]');
  const note = root.querySelector('[data-live="follow"]');
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const tail = new EventSource(
    `/console/api/agents/deployments/${encodeURIComponent(id)}/logs/stream?after=${root.dataset.after}`);
  if (note) note.textContent = 'Following the logs…';

  tail.addEventListener('log', (message) => {
    const line = JSON.parse(message.data);
    const kind = line.stream === 'build' ? 'build' : 'runtime';
    const target = kind === 'build' ? build : runtime;
    if (!target) return;
    root.querySelector(`[data-live="${kind}-empty"]`)?.remove();
    const atBottom = target.scrollHeight - target.scrollTop - target.clientHeight < 40;
    const span = document.createElement('span');
    span.className = `line stream-${line.stream} level-${line.level}`;
    if (kind === 'runtime') {
      const stamp = document.createElement('span');
      stamp.className = 'ts';
      stamp.textContent = when(line.timestamp);
      span.append(stamp, ' ');
    }
    span.append(line.message);
    if (line.call_id) {
      const link = document.createElement('a');
      link.className = 'call-ref';
      link.href = `/console/calls/${encodeURIComponent(line.call_id)}`;
      link.textContent = line.call_id;
      span.append(' ', link);
    }
    target.append(span, '\n');
    if (atBottom) target.scrollTop = target.scrollHeight;
  });

  tail.addEventListener('deployment', (message) => {
    const deployment = JSON.parse(message.data);
    field('status')?.replaceChildren(badge(deployment.status, deployment.status));
    field('is_live')?.replaceChildren(...(deployment.is_live ? [badge('live', 'live')] : []));
    for (const name of ['build_started_at', 'build_completed_at', 'deployment_started_at']) {
      const box = field(name);
      if (box) box.textContent = when(deployment[name]);
    }
    const restarts = field('restarts');
    if (restarts) restarts.textContent = String(deployment.restarts);
    for (const name of ['build_error', 'deployment_error']) {
      const box = field(name);
      if (!box) continue;
      box.hidden = !deployment[name];
      box.querySelector('span').textContent = deployment[name] || '';
    }
  });

  tail.addEventListener('end', () => {
    tail.close();
    if (note) note.textContent = 'The deployment has stopped; its logs are complete.';
  });
}

function badge(kind, text) {
  const span = document.createElement('span');
  span.className = `badge badge-${kind}`;
  span.textContent = text;
  return span;
}

function when(rfc3339) {
  // As the server writes times: 2026-05-01 14:03:22 UTC
  return rfc3339 ? rfc3339.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC') : '—';
}
