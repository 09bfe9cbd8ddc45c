// The dashboard script from before the console. Nothing loads it any more — the page at
// `/` is the console (web/console/, docs/console.md), whose dashboard is
// web/console/screens/dashboard.js — but the binary still serves it at
// /assets/dashboard.js (src/http/dashboard.rs; tests/api/reports.rs checks the route).
// The route, this file and that check can go together.
// 家医督导看板: log in, pick a region and a period, read the coverage report, the
// month-by-month trend and the review-queue count from the API, and draw them.
// Plain script, no build step: the server embeds this file as it is.
(function () {
  'use strict';

  var API = '/api/v1';
  var SECTIONS = [
    { title: '签约与建档', ids: ['record_rate', 'signing_rate', 'key_signing_rate', 'key_share_of_signed',
      'contracts_signed', 'personalised_contracts', 'renewal_rate'] },
    { title: '分类人群签约率', prefix: 'signing_rate.' },
    { title: '健康管理', ids: ['elderly_managed', 'htn_managed', 'htn_standard', 'htn_controlled', 'dm_managed',
      'dm_standard', 'dm_controlled', 'smi_managed', 'tb_managed', 'followup_visits'] },
    { title: '满意度与知晓率', ids: ['satisfaction_rate', 'awareness_rate'] }
  ];
  var SOURCE_ZH = { imported: '导入人口数', registered: '登记居民数', computed: '本表计数', none: '' };
  var GROUP_ZH = { township: '乡镇', village: '村（社区）', team: '家医团队' };

  var state = {
    session: null,      // { access, refresh, user }
    dictionary: [],     // indicator definitions
    path: [],           // chosen region codes, root first
    report: null,
    trend: null,
    bar: null,
    line: null
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function deviceId() {
    var id = localStorage.getItem('jiayi.device_id');
    if (!id) {
      var rnd = (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
        : String(Date.now()) + '-' + Math.random().toString(16).slice(2);
      id = 'web-' + rnd;
      localStorage.setItem('jiayi.device_id', id);
    }
    return id;
  }

  function saveSession(s) {
    state.session = s;
    if (s) { sessionStorage.setItem('jiayi.session', JSON.stringify(s)); } else { sessionStorage.removeItem('jiayi.session'); }
  }

  function setStatus(text) { $('status').textContent = text || ''; }

  // Formatting shared by the cards and the charts.
  function fmtRate(r) { return r === null || r === undefined ? '—' : (r * 100).toFixed(2) + '%'; }
  function fmtInt(n) { return n === null || n === undefined ? '—' : String(n); }

  async function api(path, opts) {
    opts = opts || {};
    var headers = Object.assign({}, opts.headers || {});
    if (state.session) { headers.Authorization = 'Bearer ' + state.session.access; }
    var res = await fetch(API + path, Object.assign({}, opts, { headers: headers }));
    if (res.status === 401 && state.session && !opts.retried) {
      if (await refresh()) { return api(path, Object.assign({}, opts, { retried: true })); }
      showLogin('登录已过期，请重新登录');
      throw new Error('unauthorized');
    }
    if (!res.ok) {
      var msg = res.status + '';
      try { var b = await res.json(); msg = b.error ? b.error.code + '：' + b.error.message : msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return res;
  }

  async function refresh() {
    try {
      var res = await fetch(API + '/auth/refresh', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: state.session.refresh, device_id: deviceId() })
      });
      if (!res.ok) { return false; }
      var b = await res.json();
      saveSession({ access: b.access_token, refresh: b.refresh_token, user: b.user });
      return true;
    } catch (e) { return false; }
  }

  function showLogin(message) {
    saveSession(null);
    $('board').hidden = true;
    $('who').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
  }

  async function login(ev) {
    ev.preventDefault();
    $('login-error').textContent = '';
    var body = {
      username: $('username').value.trim(), password: $('password').value,
      device_id: deviceId(), device_name: '浏览器看板', app_version: 'dashboard-1'
    };
    try {
      var res = await fetch(API + '/auth/login', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
      });
      var b = await res.json();
      if (!res.ok) {
        $('login-error').textContent = res.status === 401 ? '用户名或密码错误' : (b.error ? b.error.message : '登录失败');
        return;
      }
      $('password').value = '';
      saveSession({ access: b.access_token, refresh: b.refresh_token, user: b.user });
      await start();
    } catch (e) {
      $('login-error').textContent = '无法连接服务器';
    }
  }

  var ROLE_ZH = { admin: '县级管理员', supervisor: '乡镇督导', team_lead: '团队长', doctor: '家庭医生' };

  async function start() {
    $('login').hidden = true;
    $('board').hidden = false;
    $('who').hidden = false;
    var u = state.session.user;
    $('who-name').textContent = (ROLE_ZH[u.role] || u.role) + ' · ' + u.region_code;
    $('group-by').value = u.role === 'supervisor' ? 'village' : (u.team_id ? 'team' : 'township');
    state.dictionary = await (await api('/reports/indicators')).json();
    fillIndicatorChoice();
    state.path = [u.region_code];
    await renderPickers();
    await load();
  }

  function fillIndicatorChoice() {
    var sel = $('chart-indicator');
    sel.innerHTML = '';
    state.dictionary.forEach(function (d) {
      var o = el('option', { value: d.id }, d.name_zh);
      if (d.id === 'signing_rate') { o.selected = true; }
      sel.appendChild(o);
    });
  }

  function fillYears() {
    var now = new Date();
    var sel = $('year');
    for (var y = now.getFullYear(); y >= now.getFullYear() - 4; y--) { sel.appendChild(el('option', { value: String(y) }, y + '年')); }
    var m = $('month');
    for (var i = 1; i <= 12; i++) { m.appendChild(el('option', { value: (i < 10 ? '0' : '') + i }, i + '月')); }
  }

  // One select per level below the root: 全部 keeps the level above as the region.
  async function renderPickers() {
    var box = $('region-pickers');
    box.innerHTML = '';
    box.appendChild(el('span', { 'class': 'root', id: 'region-root' }, state.path[0]));
    for (var level = 0; level < state.path.length && level < 2; level++) {
      var code = state.path[level];
      if (code.slice(9) !== '000') { break; } // a village has no children
      var children;
      try { children = await (await api('/regions/' + code + '/children')).json(); } catch (e) { children = []; }
      if (!children.length) { break; }
      var sel = el('select', { 'data-level': String(level), id: 'region-level-' + level });
      sel.appendChild(el('option', { value: '' }, '（全部）'));
      children.forEach(function (c) {
        var o = el('option', { value: c.code }, c.name);
        if (state.path[level + 1] === c.code) { o.selected = true; }
        sel.appendChild(o);
      });
      sel.addEventListener('change', onPick);
      box.appendChild(sel);
      if (!state.path[level + 1]) { break; }
    }
  }

  async function onPick(ev) {
    var level = Number(ev.target.getAttribute('data-level'));
    state.path = state.path.slice(0, level + 1);
    if (ev.target.value) { state.path.push(ev.target.value); }
    await renderPickers();
    await load();
  }

  function region() { return state.path[state.path.length - 1]; }
  function period() { return $('year').value + ($('month').value ? '-' + $('month').value : ''); }

  async function load(ev) {
    if (ev) { ev.preventDefault(); }
    setStatus('正在查询…');
    var q = 'region=' + region() + '&period=' + period() + '&group_by=' + $('group-by').value;
    try {
      var results = await Promise.all([
        api('/reports/coverage?' + q).then(function (r) { return r.json(); }),
        api('/reports/trend?region=' + region() + '&year=' + $('year').value).then(function (r) { return r.json(); }),
        api('/review/count').then(function (r) { return r.json(); })
      ]);
      state.report = results[0];
      state.trend = results[1];
      $('review-count').textContent = String(results[2].total);
      $('review').title = '同步冲突 ' + results[2].conflicts + ' 项，隔离记录 ' + results[2].quarantine + ' 项';
      renderCards();
      renderBar();
      renderTrend();
      setStatus('已更新 ' + new Date().toLocaleTimeString('zh-CN'));
      document.body.setAttribute('data-loaded', region() + '/' + period() + '/' + $('group-by').value);
    } catch (e) {
      if (e.message !== 'unauthorized') { setStatus('查询失败：' + e.message); }
    }
  }

  function sectionIds(s) {
    if (s.ids) { return s.ids; }
    return state.dictionary.filter(function (d) { return d.id.indexOf(s.prefix) === 0; }).map(function (d) { return d.id; });
  }

  function renderCards() {
    var r = state.report;
    var periodZh = r.period.length === 4 ? r.period + '年' : r.period.replace('-', '年') + '月';
    $('report-title').textContent = r.region_name + '（' + r.region + '）· ' + periodZh;
    var box = $('cards');
    box.innerHTML = '';
    var byId = {};
    state.dictionary.forEach(function (d) { byId[d.id] = d; });
    SECTIONS.forEach(function (s) {
      var sec = el('section', { 'class': 'card-section' });
      sec.appendChild(el('h3', {}, s.title));
      var grid = el('div', { 'class': 'card-grid' });
      sectionIds(s).forEach(function (id) {
        var f = r.total.indicators[id];
        var d = byId[id];
        if (!f || !d) { return; }
        var isCount = d.kind === 'count';
        var card = el('div', { 'class': 'card' + (isCount ? ' count' : ''), 'data-indicator': id });
        card.appendChild(el('div', { 'class': 'name' }, d.name_zh));
        card.appendChild(el('div', { 'class': 'rate', 'data-field': 'rate' }, isCount ? fmtInt(f.numerator) : fmtRate(f.rate)));
        var frac = el('div', { 'class': 'frac' });
        if (isCount) {
          frac.appendChild(el('span', {}, '合计 '));
          frac.appendChild(el('span', { 'data-field': 'numerator' }, fmtInt(f.numerator)));
        } else {
          frac.appendChild(el('span', {}, '分子 '));
          frac.appendChild(el('span', { 'data-field': 'numerator' }, fmtInt(f.numerator)));
          frac.appendChild(el('span', {}, ' / 分母 '));
          frac.appendChild(el('span', { 'data-field': 'denominator' }, fmtInt(f.denominator)));
        }
        card.appendChild(frac);
        card.appendChild(el('div', { 'class': 'src' }, SOURCE_ZH[f.denominator_source] ? '分母：' + SOURCE_ZH[f.denominator_source] : ''));
        grid.appendChild(card);
      });
      sec.appendChild(grid);
      box.appendChild(sec);
    });
  }

  function chartIndicator() {
    var id = $('chart-indicator').value || 'signing_rate';
    var d = state.dictionary.filter(function (x) { return x.id === id; })[0];
    return { id: id, name: d ? d.name_zh : id, isCount: d ? d.kind === 'count' : false };
  }

  function value(f, isCount) {
    if (!f) { return null; }
    if (isCount) { return f.numerator; }
    return f.rate === null ? null : Math.round(f.rate * 10000) / 100;
  }

  function renderBar() {
    if (!window.echarts) { return; }
    var ind = chartIndicator();
    var groups = state.report.groups;
    $('bar-title').textContent = ind.name + '（按' + GROUP_ZH[state.report.group_by] + '）';
    state.bar = state.bar || echarts.init($('bar-chart'));
    state.bar.setOption({
      animation: false,
      tooltip: { trigger: 'axis' },
      grid: { left: 50, right: 16, top: 20, bottom: 90 },
      xAxis: { type: 'category', data: groups.map(function (g) { return g.name || g.code; }), axisLabel: { rotate: 40, interval: 0 } },
      yAxis: { type: 'value', name: ind.isCount ? '' : '%' },
      series: [{ type: 'bar', name: ind.name, itemStyle: { color: '#1d5fa8' },
        data: groups.map(function (g) { return value(g.indicators[ind.id], ind.isCount); }) }]
    }, true);
  }

  function renderTrend() {
    if (!window.echarts) { return; }
    var ind = chartIndicator();
    var months = state.trend.months;
    $('trend-title').textContent = ind.name + ' · ' + state.trend.year + '年逐月趋势';
    state.line = state.line || echarts.init($('trend-chart'));
    state.line.setOption({
      animation: false,
      tooltip: { trigger: 'axis' },
      grid: { left: 50, right: 16, top: 20, bottom: 40 },
      xAxis: { type: 'category', data: months.map(function (m) { return Number(m.period.slice(5)) + '月'; }) },
      yAxis: { type: 'value', name: ind.isCount ? '' : '%' },
      series: [{ type: 'line', name: ind.name, smooth: false, itemStyle: { color: '#b45309' },
        data: months.map(function (m) { return value(m.indicators[ind.id], ind.isCount); }) }]
    }, true);
  }

  async function downloadCsv() {
    try {
      var q = 'region=' + region() + '&period=' + period() + '&group_by=' + $('group-by').value + '&format=csv';
      var blob = await (await api('/reports/coverage?' + q)).blob();
      var a = el('a', { href: URL.createObjectURL(blob), download: '签约服务指标-' + region() + '-' + period() + '.csv' });
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (e) {
      if (e.message !== 'unauthorized') { setStatus('下载失败：' + e.message); }
    }
  }

  function boot() {
    fillYears();
    $('login-form').addEventListener('submit', login);
    $('filters').addEventListener('submit', load);
    $('year').addEventListener('change', load);
    $('month').addEventListener('change', load);
    $('group-by').addEventListener('change', load);
    $('chart-indicator').addEventListener('change', function () { renderBar(); renderTrend(); });
    $('download-csv').addEventListener('click', downloadCsv);
    $('logout').addEventListener('click', function () { showLogin(''); });
    window.addEventListener('resize', function () { if (state.bar) { state.bar.resize(); } if (state.line) { state.line.resize(); } });
    var saved = sessionStorage.getItem('jiayi.session');
    if (saved) {
      try { state.session = JSON.parse(saved); start().catch(function () { showLogin(''); }); return; } catch (e) { /* fall through */ }
    }
    showLogin('');
  }

  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', boot); } else { boot(); }
}());
