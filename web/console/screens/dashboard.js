// 指标看板: the coverage report of a region and period as indicator cards, a bar chart by
// township / village / team, the month-by-month trend and a table of the groups. Clicking a
// bar or a table row opens the same report one level down (township → its villages →
// the village's teams); the breadcrumb goes back up, and the CSV download follows the
// level shown. The route holds the choice (`#/dashboard?region=…&group_by=…&year=…&month=…`),
// so the browser's back button walks the drill-down too.
//
// The element ids are the dashboard's since its first version; tests/api/dashboard_browser.rs
// reads #cards [data-indicator] [data-field], #report-title, #review-count, the chart
// canvases and <body data-loaded="region/period/group_by">.

import { html, useEffect, useMemo, useRef, useState } from '../html.js';
import { get, request } from '../api.js';
import { href, go } from '../routes.js';
import { num, pct } from '../format.js';
import { noteRegions, regionName, knowsRegion, useDirectory } from '../directory.js';
import { ErrorNote } from '../ui.js';

const SECTIONS = [
  { title: '签约与建档', ids: ['record_rate', 'signing_rate', 'key_signing_rate', 'key_share_of_signed',
    'contracts_signed', 'personalised_contracts', 'renewal_rate'] },
  { title: '分类人群签约率', prefix: 'signing_rate.' },
  { title: '健康管理', ids: ['elderly_managed', 'htn_managed', 'htn_standard', 'htn_controlled', 'dm_managed',
    'dm_standard', 'dm_controlled', 'smi_managed', 'tb_managed', 'followup_visits'] },
  { title: '满意度与知晓率', ids: ['satisfaction_rate', 'awareness_rate'] },
  { title: '双向转诊', ids: ['referrals_up', 'referrals_down', 'referrals_up_received_7d'] },
];
/** The group table's columns besides the chart's indicator. */
const TABLE_IDS = ['record_rate', 'signing_rate', 'key_signing_rate', 'htn_standard', 'dm_standard', 'satisfaction_rate'];
const SOURCE_ZH = { imported: '导入人口数', registered: '登记居民数', computed: '本表计数', none: '' };
const GROUP_ZH = { township: '乡镇', village: '村（社区）', team: '家医团队' };
const LEVEL_ZH = { county: '全县', township: '本乡镇', village: '本村' };

/**
 * The level of a 12-digit region code.
 * @param {string} code
 * @returns {'county'|'township'|'village'}
 */
export function levelOf(code) {
  if (code.endsWith('000000')) return 'county';
  if (code.endsWith('000')) return 'township';
  return 'village';
}

/**
 * The breakdowns a region's report offers, the first being the one a drill-down opens.
 * @param {string} level
 * @returns {string[]}
 */
export function groupsFor(level) {
  if (level === 'county') return ['township', 'village', 'team'];
  if (level === 'township') return ['village', 'team'];
  return ['team'];
}

/**
 * The region codes from the caller's own region down to `region`, root first.
 * @param {string} root the caller's region
 * @param {string} region the region shown
 * @returns {string[]}
 */
export function regionChain(root, region) {
  const codes = [region.slice(0, 6) + '000000', region.slice(0, 9) + '000', region];
  const depth = { county: 0, township: 1, village: 2 };
  const out = [];
  for (const c of codes) {
    if (depth[levelOf(c)] >= depth[levelOf(root)] && !out.includes(c)) out.push(c);
  }
  return out;
}

/**
 * Whether `code` lies inside the caller's region.
 * @param {string} root
 * @param {string} code
 * @returns {boolean}
 */
function inside(root, code) {
  if (!/^\d{12}$/.test(code || '')) return false;
  const l = levelOf(root);
  return l === 'county' ? code.startsWith(root.slice(0, 6)) : l === 'township' ? code.startsWith(root.slice(0, 9)) : code === root;
}

let dictionary = null;
function loadDictionary() {
  if (!dictionary) dictionary = get('/reports/indicators').catch((e) => { dictionary = null; throw e; });
  return dictionary;
}

function chinaYear() {
  return new Date(Date.now() + 8 * 3600e3).getUTCFullYear();
}

// Card figures group their digits like every other number (tests/api/dashboard_browser.rs
// compares them with the API's numbers grouped the same way).
const fmtInt = num;
function fmtRate(r) { return r === null || r === undefined ? '—' : (r * 100).toFixed(2) + '%'; }

function chartValue(f, isCount) {
  if (!f) return null;
  if (isCount) return f.numerator;
  return f.rate === null || f.rate === undefined ? null : Math.round(f.rate * 10000) / 100;
}

/**
 * The dashboard screen.
 * @param {{route: import('../routes.js').Route, me: any}} props
 */
export function DashboardScreen({ route, me }) {
  useDirectory(['regions']);
  const q = route.query;
  const root = me.region_code;
  const teamMember = !!me.team_id;
  const region = q.region && inside(root, q.region) ? q.region : root;
  const level = levelOf(region);
  const offered = groupsFor(level);
  const defaultGroup = teamMember && level !== 'village' ? 'team' : offered[0];
  const groupBy = offered.includes(q.group_by) ? q.group_by : defaultGroup;
  const year = /^\d{4}$/.test(q.year || '') ? q.year : String(chinaYear());
  const month = /^(0[1-9]|1[0-2])$/.test(q.month || '') ? q.month : '';
  const period = year + (month ? '-' + month : '');
  const staff = me.role === 'admin' || me.role === 'supervisor';

  const [dict, setDict] = useState(/** @type {any[]|null} */ (null));
  const [indicator, setIndicator] = useState('signing_rate');
  const [data, setData] = useState(/** @type {any} */ (null));
  const [error, setError] = useState(null);
  const [status, setStatus] = useState('');
  const [downloading, setDownloading] = useState(false);
  const [tick, setTick] = useState(0);
  const barEl = useRef(null);
  const trendEl = useRef(null);
  const charts = useRef({ bar: null, line: null });
  const live = useRef({});

  const key = region + '/' + period + '/' + groupBy;
  const nextGroup = { township: 'village', village: 'team' }[groupBy];
  const drillHref = (g) => (nextGroup ? href('dashboard', null, { region: g.code, group_by: nextGroup, year, month }) : null);
  live.current = { data, drillHref, nextGroup };

  useEffect(() => { loadDictionary().then(setDict, setError); }, []);

  useEffect(() => {
    let gone = false;
    setStatus('正在查询…');
    setError(null);
    Promise.all([
      get('/reports/coverage', { region, period, group_by: groupBy }),
      get('/reports/trend', { region, year }),
      get('/review/count'),
    ]).then(([report, trend, count]) => {
      if (gone) return;
      noteRegions([{ code: report.region, name: report.region_name }]);
      if (groupBy !== 'team') noteRegions(report.groups.map((g) => ({ code: g.code, name: g.name })));
      setData({ key, report, trend, count });
      setStatus('已更新 ' + new Date().toLocaleTimeString('zh-CN', { timeZone: 'Asia/Shanghai', hourCycle: 'h23' }));
    }, (e) => {
      if (gone) return;
      setError(e);
      setStatus('');
    });
    return () => { gone = true; };
  }, [key, tick]);

  // Names of the levels above for the breadcrumb, when the page was opened deep.
  const chain = regionChain(root, region);
  useEffect(() => {
    for (const c of chain.slice(0, -1)) {
      if (!knowsRegion(c)) get('/regions/' + c + '/children').then(noteRegions).catch(() => {});
    }
  }, [region]);

  // The charts: drawn once the report and the dictionary are in, and again for another indicator.
  useEffect(() => {
    if (!data || !dict || data.key !== key) return;
    const ec = /** @type {any} */ (window).echarts;
    if (ec) drawCharts(ec);
    document.body.setAttribute('data-loaded', key);
  }, [data, dict, indicator]);

  useEffect(() => {
    const onResize = () => { for (const c of Object.values(charts.current)) if (c) c.resize(); };
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      for (const c of Object.values(charts.current)) if (c) c.dispose();
      charts.current = { bar: null, line: null };
      document.body.removeAttribute('data-loaded');
    };
  }, []);

  const byId = useMemo(() => Object.fromEntries((dict || []).map((d) => [d.id, d])), [dict]);
  const ind = byId[indicator] || { id: indicator, name_zh: indicator, kind: 'rate' };
  const isCount = ind.kind === 'count';

  function drawCharts(ec) {
    const { report, trend } = data;
    const groups = report.groups;
    if (!charts.current.bar) {
      const bar = ec.init(barEl.current);
      charts.current.bar = bar;
      const zr = bar.getZr();
      // A click anywhere in a group's column opens it, not only on the bar itself (a
      // village with a low rate has a bar too thin to hit).
      const groupAt = (e) => {
        const p = [e.offsetX, e.offsetY];
        if (!bar.containPixel('grid', p)) return null;
        const idx = bar.convertFromPixel({ seriesIndex: 0 }, p);
        const i = Array.isArray(idx) ? idx[0] : idx;
        const d = live.current.data;
        return d && d.report.groups[i] ? d.report.groups[i] : null;
      };
      zr.on('click', (e) => {
        const g = groupAt(e);
        const target = g && live.current.drillHref(g);
        if (target) location.hash = target;
      });
      zr.on('mousemove', (e) => {
        zr.setCursorStyle(groupAt(e) && live.current.nextGroup ? 'pointer' : 'default');
      });
    }
    if (!charts.current.line) charts.current.line = ec.init(trendEl.current);
    charts.current.bar.setOption({
      animation: false,
      tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null || v === undefined ? '—' : isCount ? num(v) : v.toFixed(2) + '%') },
      grid: { left: 60, right: 16, top: 20, bottom: 90 },
      xAxis: { type: 'category', data: groups.map((g) => g.name || g.code), axisLabel: { rotate: 40, interval: 0 } },
      yAxis: { type: 'value', name: isCount ? '' : '%', axisLabel: { formatter: (v) => num(v) } },
      series: [{ type: 'bar', name: ind.name_zh, itemStyle: { color: '#1d5fa8' }, data: groups.map((g) => chartValue(g.indicators[ind.id], isCount)) }],
    }, true);
    const months = trend.months;
    charts.current.line.setOption({
      animation: false,
      tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null || v === undefined ? '—' : isCount ? num(v) : v.toFixed(2) + '%') },
      grid: { left: 60, right: 16, top: 20, bottom: 40 },
      xAxis: { type: 'category', data: months.map((m) => Number(m.period.slice(5)) + '月') },
      yAxis: { type: 'value', name: isCount ? '' : '%', axisLabel: { formatter: (v) => num(v) } },
      series: [{ type: 'line', name: ind.name_zh, itemStyle: { color: '#b45309' }, data: months.map((m) => chartValue(m.indicators[ind.id], isCount)) }],
    }, true);
  }

  const setQuery = (patch) => {
    const next = { region: region === root ? '' : region, group_by: groupBy === defaultGroup ? '' : groupBy, year: year === String(chinaYear()) ? '' : year, month, ...patch };
    go('dashboard', null, next);
  };

  async function downloadCsv() {
    setDownloading(true);
    try {
      const resp = await request('GET', '/reports/coverage', { query: { region, period, group_by: groupBy, format: 'csv' }, raw: true });
      const blob = await resp.blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = '签约服务指标-' + region + '-' + period + '-按' + GROUP_ZH[groupBy] + '.csv';
      document.body.appendChild(a);
      a.click();
      a.remove();
      // The browser has started the download; the bytes are released a little later.
      setTimeout(() => URL.revokeObjectURL(a.href), 30_000);
    } catch (e) {
      setError(e);
    } finally {
      setDownloading(false);
    }
  }

  const report = data && data.key === key ? data.report : null;
  const count = data ? data.count : null;
  const years = [];
  for (let y = chinaYear(); y >= chinaYear() - 4; y--) years.push(String(y));
  const periodZh = month ? year + '年' + month + '月' : year + '年';

  return html`
    <section id="board" class="page">
      <div class="board-head">
      <nav class="crumbs" id="breadcrumb" aria-label="地区层级">
        ${chain.map((c, i) => {
          const last = i === chain.length - 1;
          const name = knowsRegion(c) ? regionName(c) : LEVEL_ZH[levelOf(c)];
          return html`${i ? html`<span class="sep" aria-hidden="true">›</span>` : null}${last
            ? html`<span class="crumb" aria-current="page" data-code=${c}>${name}</span>`
            : html`<a class="crumb" data-code=${c} href=${href('dashboard', null, { region: c === root ? '' : c, year: year === String(chinaYear()) ? '' : year, month })}>${name}</a>`}`;
        })}
      </nav>
      <form id="filters" class="filters" onSubmit=${(e) => { e.preventDefault(); setTick((t) => t + 1); }}>
        <label>年份 <select id="year" value=${year} onChange=${(e) => setQuery({ year: e.currentTarget.value })}>
          ${years.map((y) => html`<option value=${y}>${y}年</option>`)}
        </select></label>
        <label>月份 <select id="month" value=${month} onChange=${(e) => setQuery({ month: e.currentTarget.value })}>
          <option value="">全年</option>
          ${Array.from({ length: 12 }, (_, i) => String(i + 1).padStart(2, '0')).map((m) => html`<option value=${m}>${Number(m)}月</option>`)}
        </select></label>
        <label>分组 <select id="group-by" value=${groupBy} onChange=${(e) => setQuery({ group_by: e.currentTarget.value })}>
          ${offered.map((g) => html`<option value=${g}>按${GROUP_ZH[g]}</option>`)}
        </select></label>
        <button id="refresh" type="submit">查询</button>
        <button id="download-csv" type="button" onClick=${downloadCsv} disabled=${downloading}
          data-region=${region} data-group-by=${groupBy} data-period=${period}
          title=${'下载当前显示的这一级：' + regionName(region) + '，按' + GROUP_ZH[groupBy]}>
          ${downloading ? '正在下载…' : '下载 CSV（按' + GROUP_ZH[groupBy] + '）'}</button>
        ${staff
          ? html`<a id="review" class="review" href="#/review" title=${count ? '同步冲突 ' + count.conflicts + ' 项，隔离记录 ' + count.quarantine + ' 项，待审核签约 ' + count.pending_contracts + ' 项' : '待处理的同步冲突与隔离记录'}>待审核：<b id="review-count">${count ? String(count.total) : '–'}</b> 项</a>`
          : html`<span id="review" class="review" title="本团队等待督导处理的事项">待审核：<b id="review-count">${count ? String(count.total) : '–'}</b> 项</span>`}
      </form>
      </div>
      <p id="status" class="status" role="status">${status}</p>
      <${ErrorNote} error=${error} />
      <h2 id="report-title" class="report-title">${report ? report.region_name + '（' + report.region + '）· ' + periodZh : ''}</h2>
      <div id="cards">
        ${report && dict ? SECTIONS.map((s) => html`
          <section class="card-section">
            <h3>${s.title}</h3>
            <div class="card-grid">
              ${(s.ids || dict.filter((d) => d.id.indexOf(s.prefix) === 0).map((d) => d.id)).map((id) => {
                const f = report.total.indicators[id];
                const d = byId[id];
                if (!f || !d) return null;
                const count1 = d.kind === 'count';
                return html`
                  <div class=${'card' + (count1 ? ' count' : '')} data-indicator=${id}>
                    <div class="name">${d.name_zh}</div>
                    <div class="rate" data-field="rate">${count1 ? fmtInt(f.numerator) : fmtRate(f.rate)}</div>
                    <div class="frac">${count1
                      ? html`<span>合计 </span><span data-field="numerator">${fmtInt(f.numerator)}</span>`
                      : html`<span>分子 </span><span data-field="numerator">${fmtInt(f.numerator)}</span><span> / 分母 </span><span data-field="denominator">${fmtInt(f.denominator)}</span>`}</div>
                    <div class="src">${SOURCE_ZH[f.denominator_source] ? '分母：' + SOURCE_ZH[f.denominator_source] : ''}</div>
                  </div>`;
              })}
            </div>
          </section>`) : null}
      </div>
      <div class="charts">
        <section class="chart-box">
          <div class="chart-head">
            <h3 id="bar-title">${ind.name_zh + '（按' + GROUP_ZH[groupBy] + '）'}</h3>
            <label>指标 <select id="chart-indicator" value=${indicator} onChange=${(e) => setIndicator(e.currentTarget.value)}>
              ${(dict || []).map((d) => html`<option value=${d.id}>${d.name_zh}</option>`)}
            </select></label>
          </div>
          ${nextGroup ? html`<p class="muted hint">点击柱形或下表中的名称，查看下一级（按${GROUP_ZH[nextGroup]}）。</p>` : null}
          <div id="bar-chart" class="chart" ref=${barEl}></div>
        </section>
        <section class="chart-box">
          <div class="chart-head"><h3 id="trend-title">${ind.name_zh + ' · ' + year + '年逐月趋势'}</h3></div>
          <div id="trend-chart" class="chart" ref=${trendEl}></div>
        </section>
      </div>
      ${report && dict ? html`<${GroupTable} report=${report} byId=${byId} indicator=${indicator} drillHref=${drillHref} groupBy=${groupBy} />` : null}
      <p class="note">口径：《家庭医生签约服务指标字典》v1。比率 = 分子 ÷ 分母，四舍五入保留四位小数；分母“导入人口数”来自人口数导入，“登记居民数”为未导入时以系统登记居民数代替。</p>
    </section>`;
}

function GroupTable({ report, byId, indicator, drillHref, groupBy }) {
  const ids = TABLE_IDS.includes(indicator) ? TABLE_IDS : [indicator, ...TABLE_IDS];
  const cols = ids.filter((id) => byId[id]);
  const total = report.total.indicators;
  const cell = (f, id) => {
    if (!f) return '—';
    return byId[id].kind === 'count' ? num(f.numerator) : pct(f.rate);
  };
  return html`
    <section class="table-box">
      <h3>${'各' + GROUP_ZH[groupBy] + '对比'}</h3>
      <div class="table-wrap">
        <table class="grid" id="group-table" data-group-by=${groupBy}>
          <thead><tr>
            <th scope="col">${GROUP_ZH[groupBy]}</th>
            <th scope="col" class="num">签约人数</th>
            ${cols.map((id) => html`<th scope="col" class="num">${byId[id].name_zh}</th>`)}
          </tr></thead>
          <tbody>
            ${report.groups.map((g) => {
              const to = drillHref(g);
              return html`
                <tr data-group-code=${g.code} class=${to ? 'drill' : ''}
                  onClick=${(e) => { if (to && !(e.target instanceof HTMLAnchorElement)) location.hash = to; }}>
                  <th scope="row">${to ? html`<a href=${to} title=${'查看' + g.name + '的下一级'}>${g.name || g.code}</a>` : (g.name || g.code)}</th>
                  <td class="num">${num(g.indicators.signing_rate ? g.indicators.signing_rate.numerator : null)}</td>
                  ${cols.map((id) => html`<td class="num">${cell(g.indicators[id], id)}</td>`)}
                </tr>`;
            })}
          </tbody>
          <tfoot><tr>
            <th scope="row">合计</th>
            <td class="num">${num(total.signing_rate ? total.signing_rate.numerator : null)}</td>
            ${cols.map((id) => html`<td class="num">${cell(total[id], id)}</td>`)}
          </tr></tfoot>
        </table>
      </div>
    </section>`;
}
