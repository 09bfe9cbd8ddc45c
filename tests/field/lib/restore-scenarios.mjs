// The field SDK's scenarios of a server restored from a backup (docs/field-sdk.md §6):
// registered by tests/field/sdk.test.mjs, which hands over its helpers.

/**
 * Registers the scenarios with `scenario`, using the suite's helpers `h`.
 * @param {(name: string, fn: (t: any) => Promise<string|void>) => void} scenario
 * @param {Record<string, any>} h
 */
export function restoreScenarios(scenario, h) {
  const { assert, eq, api, serverLogin, Observer, login, sync, recordAll, newIds, counts, residentData, visitData } = h;

  /**
   * The push requests a page sends from now on: each one's op ids and X-Sync-Checkpoint.
   * @param {import('playwright-core').Page} page
   */
  function watchPushes(page) {
    const pushes = [];
    page.on('request', (req) => {
      if (new URL(req.url()).pathname !== '/api/v1/sync/push') return;
      pushes.push({ ops: JSON.parse(req.postData()).ops.map((o) => o.op_id), checkpoint: req.headers()['x-sync-checkpoint'] });
    });
    return pushes;
  }

  scenario('restore_resends_acknowledged', async (t) => {
    await t.launch();
    const page = await t.open();
    const me = await login(page);
    await page.evaluate(() => {
      window.restores = [];
      window.client.on('restore', (p) => window.restores.push(p));
    });
    let r = await sync(page);
    assert(r.ok, `first sync: ${JSON.stringify(r)}`);
    // Acknowledged and held by the server: the part a backup still has.
    const [r0, v0, r1, v1, q] = await newIds(page, 5);
    const kept = await recordAll(page, [
      ['resident', 'create', r0, residentData(me.villages[0], '备份前')],
      ['visit', 'create', v0, visitData(r0)],
    ]);
    r = await sync(page);
    assert(r.ok && r.summary.applied === 2, `sync: ${JSON.stringify(r)}`);
    // Acknowledged after the backup point, then lost in the restore: the server answered
    // them (here: an answer the test makes, so the server never stored them), and the pull
    // after that push failed, so the tablet's cursor is from before the backup point.
    const lost = await recordAll(page, [
      ['resident', 'create', r1, residentData(me.villages[0], '备份后')],
      ['visit', 'create', v1, visitData(r1)],
      ['resident', 'update', r0, { phone: '13900000077' }],
    ]);
    await page.route('**/api/v1/sync/push', async (route) => {
      const { ops } = JSON.parse(route.request().postData());
      const results = ops.map((o, index) => ({ index, op_id: o.op_id, status: 'applied', version: o.entity === 'resident' && o.action === 'update' ? 2 : 1 }));
      await route.fulfill({ json: { results, server_time: new Date().toISOString(), checkpoint: '900000000.abcdef123456' } });
    });
    await page.route('**/api/v1/sync/pull**', (route) => route.abort('failed'));
    r = await sync(page);
    assert(!r.ok && r.code === 'network' && r.summary.applied === 3, `the pull after the push fails: ${JSON.stringify(r)}`);
    await page.unroute('**/api/v1/sync/push');
    await page.unroute('**/api/v1/sync/pull**');
    eq((await counts(page)).acked, 5, 'answered ops kept');
    let obs = await Observer.open('doctor1');
    assert(!obs.records.has(`resident/${r1}`), 'the server does not hold what it lost');
    // Recorded after: the unsent queue, pushed after the resend.
    const [queued] = await recordAll(page, [['visit', 'create', q, visitData(r0)]]);
    const pushes = watchPushes(page);
    r = await sync(page);
    assert(r.ok && r.summary.resynced, `the sync after the restore: ${JSON.stringify(r)}`);
    eq([r.summary.resent, r.summary.restored, r.summary.applied], [5, 3, 1], 'resent, restored, queue applied');
    eq(pushes[0], { ops: [queued], checkpoint: '900000000.abcdef123456' }, 'the queue push carrying the lost checkpoint');
    eq(pushes.slice(1).map((p) => p.ops), [[...kept, ...lost], [queued]], 'the kept ops again in their order, then the queue');
    assert(pushes[1].checkpoint === undefined && /^\d+\.[0-9a-f]+$/.test(pushes[2].checkpoint), `checkpoints: ${JSON.stringify(pushes)}`);
    eq(await page.evaluate(() => window.restores.map((x) => [x.resent, x.restored, x.refused])), [[5, 3, 0]], "the 'restore' event");
    obs = await Observer.open('doctor1');
    for (const key of [`resident/${r0}`, `visit/${v0}`, `resident/${r1}`, `visit/${v1}`, `visit/${q}`]) {
      assert(obs.records.get(key) && !obs.records.get(key).deleted, `${key} on the server`);
    }
    eq(obs.records.get(`resident/${r0}`).version, 2, 'the lost edit applied once');
    const visits = [...obs.records.values()].filter((x) => x.entity === 'visit' && x.data?.resident_id === r1);
    eq(visits.length, 1, 'one visit of the lost resident, not two');
    const local = await page.evaluate((id) => window.client.get('resident', id), r1);
    assert(local && local.version === 1 && local.pending === 0, `the local copy: ${JSON.stringify(local)}`);
    r = await sync(page);
    assert(r.ok && !r.summary.resynced && r.summary.resent === 0, `the next sync: ${JSON.stringify(r)}`);
    return 'a checkpoint the server lost → re-sync, the 5 answered ops again (3 taken again, 2 duplicate) before the queue';
  });

  scenario('resync_scope_change_does_not_resend', async (t) => {
    const admin = await serverLogin('admin');
    await t.launch();
    const page = await t.open();
    const me = await login(page, 'doctor2');
    const villages = me.villages;
    let r = await sync(page);
    assert(r.ok, `first sync: ${JSON.stringify(r)}`);
    const [moving, visit, q] = await newIds(page, 3);
    await recordAll(page, [
      ['resident', 'create', moving, residentData(villages.at(-1))],
      ['visit', 'create', visit, visitData(moving)],
    ]);
    r = await sync(page);
    assert(r.ok && r.summary.applied === 2, `sync: ${JSON.stringify(r)}`);
    const moved = await api('PUT', `/api/v1/admin/teams/${me.team_id}/villages`, {
      token: admin.token,
      json: { village_codes: villages.slice(0, -1) },
    });
    eq(moved.status, 200, `PUT villages ${JSON.stringify(moved.body)}`);
    try {
      const [queued] = await recordAll(page, [['resident', 'create', q, residentData(villages[0])]]);
      const pushes = watchPushes(page);
      r = await sync(page);
      assert(r.ok && r.summary.resynced, `sync: ${JSON.stringify(r)}`);
      eq([r.summary.resent, r.summary.rejected, r.summary.applied], [0, 0, 1], 'resent, rejected, applied');
      eq(pushes.map((p) => p.ops), [[queued]], 'only the queue is pushed');
      eq((await counts(page)).acked, 3, 'the answered ops are still kept');
    } finally {
      const back = await api('PUT', `/api/v1/admin/teams/${me.team_id}/villages`, {
        token: admin.token,
        json: { village_codes: villages },
      });
      eq(back.status, 200, 'restoring the villages');
    }
    return "409 resync_required (reason scope_changed) → re-sync without sending the answered ops again";
  });
}
