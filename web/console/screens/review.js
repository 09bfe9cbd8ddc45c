// 审核队列: the review queue of the caller's township (a supervisor) or county (the
// county administrator) — the API scopes it — and one item with both sides and the
// decisions its kind takes (docs/review.md). Every decision needs a reason; after it the
// item shows as resolved, with who decided, and the records it changed (the tablets
// concerned receive them on their next sync).

import { html, useState, useRef } from '../html.js';
import { get, post } from '../api.js';
import { href, go } from '../routes.js';
import { dateTime, date, plain, shortId } from '../format.js';
import {
  KINDS, FIELDS, TAGS, SEX, CONTRACT_STATUS, PACKAGES, ENTITIES, ACTIONS, PUSH_ERRORS, END_REASONS, VISIT_KINDS, MEASUREMENTS,
  decisionLabel, decisionHelp, errorText,
} from '../labels.js';
import { useDirectory, regionName, teamName, userName, deviceOf, childrenOf } from '../directory.js';
import { Page, ErrorNote, Loading, Empty, useAsync, usePages, Pager, KV, Chip, Field } from '../ui.js';

const PAGE_SIZE = 50;

/**
 * A field's value for people.
 * @param {string} field
 * @param {any} v
 * @returns {string}
 */
export function fieldValue(field, v) {
  if (v === null || v === undefined || v === '') return '（空）';
  if (field === 'tags' && Array.isArray(v)) return v.length ? v.map((t) => TAGS[t] || t).join('、') : '（无）';
  if (field === 'sex') return SEX[v] || String(v);
  if (field === 'village_code') return regionName(String(v)) + '（' + v + '）';
  if (field === 'packages' && Array.isArray(v)) return v.map((p) => PACKAGES[p] || p).join('、');
  return plain(v);
}

/**
 * One line saying what an item is about (the list's last column).
 * @param {any} item a ReviewItem
 * @returns {string}
 */
export function summary(item) {
  const sv = item.server_value || {};
  const cv = item.client_value || {};
  switch (item.kind) {
    case 'field_clash': {
      const fields = String(item.field || '').split(',').filter(Boolean).map((f) => FIELDS[f] || f).join('、');
      const lostTablet = Object.keys(cv).length > 0;
      return '健康档案的' + (fields || '字段') + '被两台平板修改：' + (lostTablet ? '平板的修改未采用' : '服务器原值被较晚的修改覆盖');
    }
    case 'double_signing':
      return '已有' + teamName(sv.team_id) + '的在约协议，' + teamName(cv.team_id) + '又签约（待审核）';
    case 'duplicate_resident':
      return (cv.name || '居民') + ' 与 ' + (sv.name || '已有档案') + ' 身份证号相同（' + (cv.id_number_masked || sv.id_number_masked || '已遮盖') + '）';
    case 'divergent_append':
      return (ENTITIES[item.entity] || '记录') + '以同一编号收到不同内容';
    case 'quarantine': {
      const code = item.error && item.error.code;
      const what = (ENTITIES[cv.entity || item.entity] || cv.entity || item.entity || '记录') + (ACTIONS[cv.action] || cv.action || '');
      return what + '被拒绝：' + (PUSH_ERRORS[code] || (item.error && item.error.message) || code || '');
    }
    case 'pending_contract':
      return teamName(cv.team_id || item.team_id) + '的签约待审核' + (cv.signed_at ? '（' + date(cv.signed_at) + '签约）' : '');
    default:
      return item.kind;
  }
}

/**
 * The review queue.
 * @param {{route: import('../routes.js').Route, me: any}} props
 */
export function ReviewListScreen({ route, me }) {
  useDirectory(['regions', 'teams', 'devices', 'users']);
  const q = route.query;
  const status = q.status === 'resolved' ? 'resolved' : 'open';
  const kind = KINDS[q.kind] ? q.kind : '';
  const region = /^\d{12}$/.test(q.region || '') ? q.region : '';
  const filterKey = status + '/' + kind + '/' + region;
  const pages = usePages(filterKey);
  const cursor = pages.cursor;
  const page = useAsync(() => get('/review/items', { status, kind, region, limit: PAGE_SIZE, cursor }).then((p) => ({ ...p, status })), [filterKey, cursor]);
  const places = useAsync(() => placesOf(me), [me.region_code]);
  const set = (patch) => go('review', null, { status: status === 'open' ? '' : status, kind, region, ...patch });
  const items = page.data ? page.data.items : [];
  return html`
    <${Page} title="审核队列" id="review-list"
      sub=${me.role === 'admin' ? '全县的同步冲突、重复档案与隔离记录。' : '本乡镇的同步冲突、重复档案与隔离记录（跨乡镇的重复档案由县卫健局处理）。'}>
      <form class="filters" id="review-filters" onSubmit=${(e) => { e.preventDefault(); page.reload(); }}>
        <${Field} label="状态">
          <select id="review-status" value=${status} onChange=${(e) => set({ status: e.currentTarget.value === 'open' ? '' : e.currentTarget.value })}>
            <option value="open">待处理</option>
            <option value="resolved">已处理</option>
          </select><//>
        <${Field} label="类型">
          <select id="review-kind" value=${kind} onChange=${(e) => set({ kind: e.currentTarget.value })}>
            <option value="">全部类型</option>
            ${Object.entries(KINDS).map(([k, v]) => html`<option value=${k}>${v}</option>`)}
          </select><//>
        <${Field} label="地区">
          <select id="review-region" value=${region} onChange=${(e) => set({ region: e.currentTarget.value })}>
            <option value="">${me.role === 'admin' ? '全县' : '本乡镇全部'}</option>
            ${(places.data || []).map((p) => html`<option value=${p.code}>${p.label}</option>`)}
          </select><//>
        <button type="submit">刷新</button>
      </form>
      <${ErrorNote} error=${page.error} />
      ${page.loading && !page.data ? html`<${Loading} />` : null}
      ${page.data && !items.length ? html`<${Empty} id="review-empty" data=${{ status: page.data.status }} text=${page.data.status === 'open' ? '没有待处理的事项。' : '没有已处理的事项。'} />` : null}
      ${items.length ? html`
        <div class="table-wrap">
          <table class="grid rows" id="review-table" data-status=${page.data.status}>
            <thead><tr>
              <th scope="col">类型</th><th scope="col">村（社区）</th><th scope="col">团队</th>
              <th scope="col">${page.data.status === 'open' ? '接收时间' : '处理时间'}</th><th scope="col">摘要</th>
              ${page.data.status === 'resolved' ? html`<th scope="col">处理</th>` : null}
            </tr></thead>
            <tbody>
              ${items.map((it) => html`
                <tr data-item-id=${it.id} data-kind=${it.kind} onClick=${(e) => { if (!(e.target instanceof HTMLAnchorElement)) go('review-item', it.id); }}>
                  <td><${Chip} text=${KINDS[it.kind] || it.kind} tone=${it.kind === 'quarantine' ? 'red' : 'amber'} /></td>
                  <td>${it.village_code ? regionName(it.village_code) : '—'}</td>
                  <td>${teamName(it.team_id)}</td>
                  <td class="nowrap">${dateTime(it.status === 'open' ? it.created_at : it.resolved_at || it.created_at)}</td>
                  <td><a href=${href('review-item', it.id)}>${summary(it)}</a></td>
                  ${page.data.status === 'resolved' ? html`<td>${decisionLabel(it.kind, it.resolution || '')} · ${userName(it.resolved_by)}</td>` : null}
                </tr>`)}
            </tbody>
          </table>
        </div>` : null}
      <${Pager} hasPrev=${pages.depth > 0} hasNext=${!!(page.data && page.data.next_cursor)}
        info=${page.data ? '第 ' + (pages.depth + 1) + ' 页，本页 ' + items.length + ' 项' : ''}
        onPrev=${pages.pop} onNext=${() => pages.push(page.data.next_cursor)} />
    <//>`;
}

/** The region filter's choices: a supervisor's villages, an administrator's townships and villages. */
async function placesOf(me) {
  const root = me.region_code;
  const kids = await childrenOf(root);
  if (!root.endsWith('000000')) return kids.map((k) => ({ code: k.code, label: k.name }));
  const out = [];
  for (const t of kids) {
    out.push({ code: t.code, label: t.name });
    const vs = await childrenOf(t.code).catch(() => []);
    for (const v of vs) out.push({ code: v.code, label: '\u3000' + v.name });
  }
  return out;
}

/**
 * Who sent what made the item, and from which device.
 * @param {any} item
 * @returns {string}
 */
function sender(item) {
  const d = deviceOf(item.device_id);
  const who = userName(item.user_id, item.device_id);
  return d ? who + ' · ' + d.name + (d.app_version ? '（' + d.app_version + '）' : '') : who;
}

/**
 * One review item.
 * @param {{id: string, me: any}} props
 */
export function ReviewItemScreen({ id, me }) {
  useDirectory(['regions', 'teams', 'devices', 'users']);
  const item = useAsync(() => get('/review/items/' + encodeURIComponent(id)), [id]);
  const [outcome, setOutcome] = useState(/** @type {any} */ (null));
  const [note, setNote] = useState('');
  const back = html`<a href="#/review" id="back-to-queue">← 返回审核队列</a>`;
  if (item.error) {
    const notFound = item.error.status === 404;
    return html`
      <${Page} title="审核事项" id="review-item" actions=${back}>
        ${notFound
          ? html`<p class="error" role="alert" id="item-not-found" data-code=${item.error.code}>未找到该事项：它不存在，或不在您的管辖范围内。</p>`
          : html`<${ErrorNote} error=${item.error} />`}
      <//>`;
  }
  if (!item.data) return html`<${Page} title="审核事项" id="review-item" actions=${back}><${Loading} /><//>`;
  const it = item.data;
  const open = it.status === 'open';
  const onDecided = (out) => {
    setOutcome(out);
    setNote('');
    item.setData(out.item);
  };
  const onRefused = (e) => {
    if (e && e.code === 'already_resolved') { setNote('该事项已由其他人处理，以下为最新状态。'); item.reload(); }
  };
  return html`
    <${Page} title=${(KINDS[it.kind] || it.kind) + (open ? ' · 待处理' : ' · 已处理')} id="review-item" actions=${back}>
      <div class="item" data-item-id=${it.id} data-status=${it.status} data-kind=${it.kind}>
        <p class="lead">${summary(it)}</p>
        <${KV} id="item-facts" rows=${[
          ['类型', KINDS[it.kind] || it.kind],
          ['村（社区）', it.village_code ? regionName(it.village_code) + '（' + it.village_code + '）' : '—'],
          ['团队', teamName(it.team_id)],
          ['发送人', sender(it)],
          ['服务器接收时间', dateTime(it.created_at)],
          ['审计', html`<a href=${href('audit', null, { entity: it.kind === 'quarantine' ? 'quarantine' : it.kind === 'pending_contract' ? 'contract' : 'conflict', entity_id: it.id })}>这一事项的审计记录</a>`],
          it.entity ? ['记录', html`${ENTITIES[it.entity] || it.entity} ${it.entity === 'resident' && it.entity_id
            ? html`<a href=${href('resident', it.entity_id)}>${shortId(it.entity_id)}</a>` : html`<span title=${it.entity_id || ''}>${shortId(it.entity_id)}</span>`}`] : null,
        ]} />
        ${note ? html`<p class="notice warn" role="status">${note}</p>` : null}
        <${Sides} item=${it} />
        ${open
          ? html`<${DecisionPanel} item=${it} onDecided=${onDecided} onRefused=${onRefused} />`
          : html`<${Resolution} item=${it} outcome=${outcome} />`}
      </div>
    <//>`;
}

function Sides({ item }) {
  switch (item.kind) {
    case 'field_clash': return html`<${FieldClash} item=${item} />`;
    case 'duplicate_resident': return html`<${DuplicatePair} item=${item} />`;
    case 'double_signing': case 'pending_contract': return html`<${ContractPair} item=${item} />`;
    case 'quarantine': return html`<${Quarantined} item=${item} />`;
    default: return html`<${Divergent} item=${item} />`;
  }
}

/** The last write of the record before the item, by another device: the server side's who and when. */
function lastWriter(audit, item) {
  const before = Date.parse(item.created_at);
  const writes = (audit || []).filter((e) => /^resident_(created|updated|moved)$/.test(e.action)
    && Date.parse(e.at) <= before + 1000 && e.device_id !== item.device_id);
  return writes[0] || null;
}

function FieldClash({ item }) {
  const rid = item.entity === 'resident' ? item.entity_id : null;
  // The winning side is the record's value while the item is open; after a decision the
  // record may hold the other side, so the values seen when the page opened are kept.
  const openedOpen = useRef(item.status === 'open');
  const atOpen = useAsync(() => (rid && openedOpen.current ? get('/residents/' + encodeURIComponent(rid)) : Promise.resolve(null)), [rid]);
  const now = useAsync(() => (rid ? get('/residents/' + encodeURIComponent(rid)) : Promise.resolve(null)), [rid, item.status]);
  const audit = useAsync(() => (rid ? get('/audit', { entity: 'resident', entity_id: rid, limit: 50 }).then((p) => p.entries) : Promise.resolve([])), [rid]);
  const sv = item.server_value || {};
  const cv = item.client_value || {};
  const fields = String(item.field || '').split(',').filter(Boolean);
  const w = audit.data ? lastWriter(audit.data, item) : null;
  const serverWho = w ? userName(w.user_id, w.device_id) + ' · ' + dateTime(w.clinical_at || w.at) : '先前写入服务器的一方';
  const tabletWho = userName(item.user_id, item.device_id) + ' · 服务器接收于 ' + dateTime(item.created_at);
  const winning = (f) => {
    if (!openedOpen.current) return '（当时已采用）';
    if (atOpen.data) return fieldValue(f, atOpen.data[f]);
    return atOpen.error ? '（无法读取）' : '…';
  };
  return html`
    <section class="sides" id="clash">
      <h3>逐字段对比</h3>
      <p class="muted">两台平板修改了同一字段：临床时间较晚的修改已自动采用，另一方的值保存在这里，由您决定最终采用哪一方。身份证号、电话已遮盖。</p>
      <${ErrorNote} error=${now.error} />
      <div class="table-wrap">
        <table class="grid compare" id="clash-table" data-ready=${String(!atOpen.loading && !now.loading && !audit.loading)}>
          <thead><tr>
            <th scope="col">字段</th>
            <th scope="col">服务器上的值<br /><small class="muted" id="server-who">${serverWho}</small></th>
            <th scope="col">平板上的值<br /><small class="muted" id="tablet-who">${tabletWho}</small></th>
            <th scope="col">目前档案中</th>
          </tr></thead>
          <tbody>
            ${fields.map((f) => {
              const tabletLost = Object.prototype.hasOwnProperty.call(cv, f);
              return html`
                <tr data-field=${f}>
                  <th scope="row">${FIELDS[f] || f}</th>
                  <td data-side="server" class=${tabletLost ? 'kept' : 'lost'}>${tabletLost ? winning(f) : fieldValue(f, sv[f])}
                    <br /><small class="muted">${tabletLost ? '同步时保留' : '同步时被平板的修改覆盖'}</small></td>
                  <td data-side="client" class=${tabletLost ? 'lost' : 'kept'}>${tabletLost ? fieldValue(f, cv[f]) : winning(f)}
                    <br /><small class="muted">${tabletLost ? '同步时未采用' : '同步时采用'}</small></td>
                  <td data-side="now">${now.data ? fieldValue(f, now.data[f]) : '…'}</td>
                </tr>`;
            })}
          </tbody>
        </table>
      </div>
    </section>`;
}

const RESIDENT_ROWS = [
  ['姓名', (r) => r.name],
  ['性别', (r) => SEX[r.sex] || r.sex],
  ['出生日期', (r) => date(r.birth_date)],
  ['身份证号', (r) => r.id_number_masked],
  ['电话', (r) => r.phone || '（无）'],
  ['村（社区）', (r) => (r.village_code ? regionName(r.village_code) : '—')],
  ['户号', (r) => r.household_id || '（无）'],
  ['重点人群', (r) => fieldValue('tags', r.tags || [])],
  ['登记日期', (r) => date(r.registered_on)],
  ['签约协议', (r) => (r.contracts === undefined ? '—' : r.contracts + ' 份')],
  ['服务记录', (r) => (r.visits === undefined ? '—' : r.visits + ' 条')],
  ['满意度调查', (r) => (r.surveys === undefined ? '—' : r.surveys + ' 份')],
  ['档案状态', (r) => (r.merged_into ? '已合并到 ' + shortId(r.merged_into) : r.deleted ? '已删除' : '在用')],
];

function Pair({ id, left, right, leftTitle, rightTitle, rows, leftLink, rightLink }) {
  return html`
    <div class="table-wrap">
      <table class="grid compare pair" id=${id}>
        <thead><tr>
          <th scope="col"></th>
          <th scope="col" data-side="server">${leftTitle}${leftLink ? html` <a href=${leftLink}>查看档案</a>` : null}</th>
          <th scope="col" data-side="client">${rightTitle}${rightLink ? html` <a href=${rightLink}>查看档案</a>` : null}</th>
        </tr></thead>
        <tbody>
          ${rows.map(([label, fn]) => {
            const a = left ? fn(left) : '—';
            const b = right ? fn(right) : '—';
            return html`<tr class=${String(a) !== String(b) ? 'differs' : ''}><th scope="row">${label}</th><td data-side="server">${a}</td><td data-side="client">${b}</td></tr>`;
          })}
        </tbody>
      </table>
    </div>`;
}

function DuplicatePair({ item }) {
  const first = item.server_value;
  const second = item.client_value;
  return html`
    <section class="sides" id="duplicate">
      <h3>两份档案并排对比</h3>
      <p class="muted">同一身份证号登记了两次。合并后保留一份，另一份的签约、随访、调查全部转到保留的档案上，什么都不会丢失。</p>
      <${Pair} id="duplicate-table" left=${first} right=${second} rows=${RESIDENT_ROWS}
        leftTitle="先登记的档案" rightTitle=${'后登记的档案（' + userName(item.user_id, item.device_id) + '）'}
        leftLink=${first && first.id ? href('resident', first.id) : null} rightLink=${second && second.id ? href('resident', second.id) : null} />
    </section>`;
}

const CONTRACT_ROWS = [
  ['团队', (c) => teamName(c.team_id)],
  ['状态', (c) => CONTRACT_STATUS[c.status] || c.status],
  ['服务包', (c) => fieldValue('packages', c.packages || [])],
  ['签约时间', (c) => dateTime(c.signed_at)],
  ['服务期', (c) => date(c.effective_from) + ' 至 ' + date(c.effective_to)],
  ['签约医生', (c) => (c.doctor_id ? userName(c.doctor_id) : '—')],
  ['村（社区）', (c) => (c.village_code ? regionName(c.village_code) : '—')],
  ['解约原因', (c) => (c.end_reason ? END_REASONS[c.end_reason] || c.end_reason : '—')],
];

function ContractPair({ item }) {
  return html`
    <section class="sides" id="contracts">
      <h3>两份协议并排对比</h3>
      <p class="muted">一位居民同一时间只能有一份生效的协议；后签的一份暂为“待审核”，不计入任何指标。</p>
      <${Pair} id="contract-table" left=${item.server_value} right=${item.client_value} rows=${CONTRACT_ROWS}
        leftTitle=${item.server_value ? '在约的协议' : '在约的协议（无）'} rightTitle="待审核的协议" />
    </section>`;
}

/**
 * A record flattened to `path → value` lines (nested objects as `a.b`).
 * @param {any} v
 * @param {string} [prefix]
 * @param {[string, any][]} [out]
 * @returns {[string, any][]}
 */
export function flatten(v, prefix = '', out = []) {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (!keys.length && prefix) out.push([prefix, '（空）']);
    for (const k of keys) flatten(v[k], prefix ? prefix + '.' + k : k, out);
  } else if (Array.isArray(v) && v.some((x) => x && typeof x === 'object')) {
    out.push([prefix, JSON.stringify(v)]);
  } else {
    out.push([prefix || '值', v]);
  }
  return out;
}

/** A visit's or survey's field for people (the divergent pair). */
function recordValue(path, v) {
  if (v === null || v === undefined || v === '') return '（空）';
  if (path === 'kind') return VISIT_KINDS[v] || String(v);
  if (/(_at)$/.test(path)) return dateTime(v);
  return plain(v);
}

const RECORD_LABELS = {
  kind: '类型', occurred_at: '服务时间', answered_at: '调查时间', notes: '备注', contract_id: '所依据的协议',
  amends: '所更正的记录', questionnaire: '问卷', questionnaire_version: '问卷版本',
};
const SKIP = new Set(['id', 'version', 'resident_id', 'amended_by']);

function recordLabel(path) {
  if (RECORD_LABELS[path]) return RECORD_LABELS[path];
  const [head, tail] = path.split('.');
  if (head === 'measurements') return MEASUREMENTS[tail] || tail;
  if (head === 'answers') return '答案：' + tail;
  return path;
}

function Divergent({ item }) {
  const other = item.client_value || {};
  // The item keeps the other content; the stored record is read from the resident's record.
  const rid = other.resident_id;
  const stored = useAsync(async () => {
    if (item.server_value) return item.server_value;
    if (!rid) return null;
    const rec = await get('/residents/' + encodeURIComponent(rid) + '/record');
    const all = [...(rec.visits || []), ...(rec.surveys || []), ...(rec.referrals || [])].flatMap((x) => [x.record || x, ...((x.amendments || []).map((a) => a.record || a))]);
    return all.find((r) => r.id === item.entity_id) || null;
  }, [item.id]);
  const a = Object.fromEntries(flatten(stored.data || {}).filter(([k]) => !SKIP.has(k)));
  const b = Object.fromEntries(flatten(other).filter(([k]) => !SKIP.has(k)));
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return html`
    <section class="sides" id="divergent">
      <h3>已存的记录与另一份内容</h3>
      <p class="muted">同一编号的${ENTITIES[item.entity] || '记录'}又收到一份不同的内容（例如平板重装后重发，或两台平板更正了同一条记录）。已存的记录不变，另一份内容保存在这里备查。</p>
      <${ErrorNote} error=${stored.error} />
      <div class="table-wrap">
        <table class="grid compare" id="divergent-table">
          <thead><tr><th scope="col">项目</th><th scope="col" data-side="server">服务器已存</th><th scope="col" data-side="client">另一份内容（${userName(item.user_id, item.device_id)}）</th></tr></thead>
          <tbody>${keys.map((k) => {
            const x = stored.data ? recordValue(k, a[k]) : stored.loading ? '…' : '（未能读取）';
            const y = recordValue(k, b[k]);
            return html`<tr class=${x !== y ? 'differs' : ''}><th scope="row">${recordLabel(k)}</th><td data-side="server">${x}</td><td data-side="client">${y}</td></tr>`;
          })}</tbody>
        </table>
      </div>
    </section>`;
}

function Quarantined({ item }) {
  const op = item.client_value || {};
  const e = item.error || {};
  const data = op.data && typeof op.data === 'object' ? flatten(op.data) : [];
  const envelope = Object.entries(op).filter(([k]) => k !== 'data');
  const envLabel = { op_id: '操作编号', entity: '记录类型', action: '操作', id: '记录编号', recorded_at: '临床时间', base_version: '修改所基于的版本' };
  const envValue = (k, v) => (k === 'entity' ? (ENTITIES[v] || v) + '（' + v + '）' : k === 'action' ? (ACTIONS[v] || v) + '（' + v + '）' : k === 'recorded_at' ? dateTime(v) + '（' + v + '）' : plain(v));
  return html`
    <section class="sides" id="quarantine">
      <h3>服务器拒绝的原因</h3>
      <div class="error-box" id="quarantine-error" data-code=${e.code || ''}>
        <p><b>${PUSH_ERRORS[e.code] || errorText(e)}</b></p>
        <p class="muted">代码 ${e.code || '—'}${e.field ? '，字段 ' + e.field : ''}：${e.message || ''}</p>
      </div>
      <h3>平板发送的内容</h3>
      <p class="muted">原样保存（身份证号只保留遮盖形式，电话已遮盖）。</p>
      <div class="table-wrap">
        <table class="grid" id="quarantine-op">
          <tbody>
            ${envelope.map(([k, v]) => html`<tr><th scope="row">${envLabel[k] || k}</th><td>${envValue(k, v)}</td></tr>`)}
            ${data.map(([k, v]) => html`<tr data-path=${'data.' + k}><th scope="row">${'data.' + k}</th><td>${fieldValue(k.split('.').pop(), v)}</td></tr>`)}
          </tbody>
        </table>
      </div>
    </section>`;
}

const PLACEHOLDERS = {
  field_clash: '例如：已电话联系居民核实，以平板录入的号码为准',
  double_signing: '例如：已与两个团队核实，居民本人选择第二家医团队',
  pending_contract: '例如：已核实签约属实',
  duplicate_resident: '例如：身份证号、姓名、出生日期一致，为同一人',
  divergent_append: '例如：已与团队核实，以服务器记录为准',
  quarantine: '例如：该居民已补录，重新受理',
};

function DecisionPanel({ item, onDecided, onRefused }) {
  const [reason, setReason] = useState('');
  const [keep, setKeep] = useState('');
  const [error, setError] = useState(/** @type {any} */ (null));
  const [busy, setBusy] = useState('');
  const decide = async (decision) => {
    const r = reason.trim();
    if (!r) {
      setError({ code: 'reason_missing' });
      const t = document.getElementById('decision-reason');
      if (t) t.focus();
      return;
    }
    setBusy(decision);
    setError(null);
    try {
      const body = { decision, reason: r };
      if (decision === 'merge' && keep) body.keep = keep;
      const out = await post('/review/items/' + encodeURIComponent(item.id) + '/decision', body);
      onDecided(out);
    } catch (e) {
      setError(e);
      onRefused(e);
    } finally {
      setBusy('');
    }
  };
  const pair = item.kind === 'duplicate_resident';
  return html`
    <section class="decide" id="decision">
      <h3>处理决定</h3>
      ${pair && item.server_value && item.client_value ? html`
        <fieldset class="keep">
          <legend>合并时保留哪一份档案</legend>
          <label><input type="radio" name="keep" value="" checked=${keep === ''} onChange=${() => setKeep('')} /> 先登记的档案（默认）</label>
          <label><input type="radio" name="keep" value=${item.client_value.id} checked=${keep === item.client_value.id} onChange=${() => setKeep(item.client_value.id)} /> 后登记的档案</label>
        </fieldset>` : null}
      <${Field} label="处理理由" hint="必填，1–500 字；与决定一起记入审计日志" wide>
        <textarea id="decision-reason" name="reason" maxlength="500" rows="3" required
          placeholder=${PLACEHOLDERS[item.kind] || '写明核实的情况和依据'} value=${reason}
          onInput=${(e) => { setReason(e.currentTarget.value); if (error && error.code === 'reason_missing') setError(null); }}></textarea>
      <//>
      ${error && error.code === 'reason_missing' ? html`<p class="error" role="alert" id="reason-missing">请先填写处理理由。</p>` : html`<${ErrorNote} error=${error} id="decision-error" />`}
      <div class="decisions">
        ${item.decisions.map((d) => html`
          <div class="decision">
            <button type="button" class=${d === 'void' ? 'danger' : 'primary'} data-decision=${d} disabled=${!!busy}
              onClick=${() => decide(d)}>${busy === d ? '正在提交…' : decisionLabel(item.kind, d)}</button>
            <span class="muted">${decisionHelp(item.kind, d)}</span>
          </div>`)}
      </div>
    </section>`;
}

function Resolution({ item, outcome }) {
  const changed = outcome ? outcome.changed : null;
  return html`
    <section class="resolved" id="resolution" data-resolved-by=${item.resolved_by || ''} data-resolution=${item.resolution || ''}>
      <h3>已处理</h3>
      <${KV} rows=${[
        ['决定', decisionLabel(item.kind, item.resolution || '')],
        ['处理人', html`<span id="resolved-by">${userName(item.resolved_by)}</span>`],
        ['处理时间', dateTime(item.resolved_at)],
        ['理由', item.resolution_reason],
      ]} />
      ${changed ? html`
        <div id="changed">
          ${changed.length
            ? html`<p>这一决定更改了以下记录，相关平板下次同步时会收到：</p>
              <ul>${changed.map((c) => html`<li data-entity=${c.entity} data-id=${c.id}>${ENTITIES[c.entity] || c.entity} ${c.entity === 'resident'
                ? html`<a href=${href('resident', c.id)}>${shortId(c.id)}</a>` : shortId(c.id)} → 第 ${c.version} 版</li>`)}</ul>`
            : html`<p class="muted">这一决定没有更改任何记录，不会向平板发送内容。</p>`}
        </div>` : null}
    </section>`;
}
