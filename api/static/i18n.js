"use strict";
// Every string the map shows, one table per language. Chinese is the default; the choice is
// kept in localStorage. Alert kinds are keyed by geofence.alerts.AlertKind's values; a kind
// missing here is shown as it came.
const STRINGS = {
  zh: {
    title: "网格化管理 · 实时地图",
    heading: "网格巡查指挥",
    other: "English",
    loading: "加载中…",
    summary: "{grids} 个网格 · {overdue} 个超时未巡 · {devices} 台设备（{online} 台在线）",
    "status.ok": "按时巡查",
    "status.overdue": "超时未巡",
    "status.no_data": "无巡查数据",
    "kind.overdue": "超时未巡",
    "kind.cleared": "已巡查",
    "kind.device_offline": "设备离线",
    "kind.device_online": "设备上线",
    "kind.alarm_sos": "紧急报警（SOS）",
    "kind.alarm_sos_ended": "紧急报警解除",
    "kind.alarm_overspeed": "超速报警",
    "kind.alarm_overspeed_ended": "超速解除",
    "kind.alarm_gnss_fault": "定位模块故障",
    "kind.alarm_gnss_fault_ended": "定位模块恢复",
    "kind.alarm_antenna_cut": "定位天线断开",
    "kind.alarm_antenna_cut_ended": "定位天线恢复",
    "kind.alarm_antenna_short": "定位天线短路",
    "kind.alarm_antenna_short_ended": "天线短路解除",
    "kind.alarm_power_low": "主电源欠压",
    "kind.alarm_power_low_ended": "主电源电压恢复",
    "kind.alarm_power_cut": "主电源断电",
    "kind.alarm_power_cut_ended": "主电源恢复",
    "kind.alarm_moved": "非法位移",
    "kind.alarm_moved_ended": "非法位移解除",
    "kind.out_of_grid": "越界脱岗",
    "kind.in_grid": "返回网格",
    "kind.stationary": "长时滞留",
    "kind.moving": "恢复移动",
    "kind.absent": "缺岗",
    "kind.arrived": "已到岗",
    "kind.silent": "在岗失联",
    "kind.heard": "恢复联系",
    "kind.due_soon": "即将超时",
    "kind.due_soon_ended": "预警解除",
    search: "搜索网格、网格员或设备…",
    noMatch: "未找到",
    grid: "网格",
    district: "片区",
    device: "设备",
    zoomIn: "放大",
    zoomOut: "缩小",
    zoomAll: "全图",
    districts: "按片区汇总",
    token: "访问令牌",
    useToken: "使用令牌",
    gridHeading: "网格详情",
    gridHint: "点击地图上的网格，或在上方搜索。",
    replayHeading: "轨迹回放",
    pickDevice: "选择设备…",
    replay: "回放今日轨迹",
    alertsHeading: "告警",
    status: "状态",
    lastVisit: "最后巡查",
    interval: "巡查间隔",
    minutes: "{n} 分钟",
    serviceHours: "服务时段",
    allDay: "全天",
    compliance: "今日合规率",
    visits: "今日巡查次数",
    longestGap: "最长间隔",
    coverage: "今日覆盖率",
    ofCells: "（共 {n} 个单元格）",
    violations: "今日超时时段（红色）",
    worker: "网格员",
    deviceId: "设备编号",
    assignedGrid: "责任网格",
    currentGrid: "当前网格",
    online: "在线",
    offline: "离线",
    lastSeen: "最后定位",
    presence: "今日到位率",
    never: "无",
    "detail.no_visit": "已 {n} 分钟未巡查",
    "detail.silent": "{n} 秒无定位",
    "detail.last_will": "终端连接中断（遗嘱消息）",
    ack: "确认",
    rollCall: "点名",
    rollCallWaiting: "点名中，等待终端应答…",
    rollCallAnswered: "{of} 台中 {n} 台应答",
    "rollCall.answered": "已应答",
    "rollCall.timeout": "未应答（超时）",
    "rollCall.offline": "离线",
    "rollCall.unsupported": "不支持",
    ackNote: "备注（处置情况）",
    ackSend: "确认",
    open: "{n} 条未确认",
    more: "另有 {n} 条",
    allKinds: "全部类型",
    allAreas: "全部区域",
    noArea: "未分配网格",
    kindFilter: "按告警类型筛选",
    areaFilter: "按区域筛选",
  },
  en: {
    title: "gridpatrol · live map",
    heading: "gridpatrol",
    other: "中文",
    loading: "loading…",
    summary: "{grids} grids · {overdue} overdue · {devices} devices ({online} online)",
    "status.ok": "patrolled",
    "status.overdue": "overdue",
    "status.no_data": "no data",
    "kind.overdue": "overdue",
    "kind.cleared": "cleared",
    "kind.device_offline": "device offline",
    "kind.device_online": "device online",
    "kind.alarm_sos": "SOS",
    "kind.alarm_sos_ended": "SOS ended",
    "kind.alarm_overspeed": "overspeed",
    "kind.alarm_overspeed_ended": "overspeed ended",
    "kind.alarm_gnss_fault": "GNSS module fault",
    "kind.alarm_gnss_fault_ended": "GNSS module back",
    "kind.alarm_antenna_cut": "GNSS antenna cut",
    "kind.alarm_antenna_cut_ended": "GNSS antenna back",
    "kind.alarm_antenna_short": "GNSS antenna short",
    "kind.alarm_antenna_short_ended": "antenna short ended",
    "kind.alarm_power_low": "main power low",
    "kind.alarm_power_low_ended": "main power normal",
    "kind.alarm_power_cut": "main power cut",
    "kind.alarm_power_cut_ended": "main power back",
    "kind.alarm_moved": "moved (illegal)",
    "kind.alarm_moved_ended": "moved ended",
    "kind.out_of_grid": "out of grid",
    "kind.in_grid": "back in grid",
    "kind.stationary": "stationary",
    "kind.moving": "moving again",
    "kind.absent": "absent",
    "kind.arrived": "arrived",
    "kind.silent": "silent on shift",
    "kind.heard": "heard from again",
    "kind.due_soon": "due soon",
    "kind.due_soon_ended": "due soon ended",
    search: "Search a grid, worker or device…",
    noMatch: "no match",
    grid: "grid",
    district: "district",
    device: "device",
    zoomIn: "Zoom in",
    zoomOut: "Zoom out",
    zoomAll: "Whole map",
    districts: "Districts",
    token: "API token",
    useToken: "Use token",
    gridHeading: "Grid",
    gridHint: "Click a grid on the map, or search above.",
    replayHeading: "Replay",
    pickDevice: "pick a device…",
    replay: "Replay today's track",
    alertsHeading: "Alerts",
    status: "status",
    lastVisit: "last visit",
    interval: "patrol interval",
    minutes: "{n} min",
    serviceHours: "service hours",
    allDay: "all day",
    compliance: "compliance today",
    visits: "visits today",
    longestGap: "longest gap",
    coverage: "coverage today",
    ofCells: " of {n} cells",
    violations: "violations today (red)",
    worker: "worker",
    deviceId: "device",
    assignedGrid: "assigned grid",
    currentGrid: "current grid",
    online: "online",
    offline: "offline",
    lastSeen: "last seen",
    presence: "presence today",
    never: "never",
    "detail.no_visit": "no visit for {n} min",
    "detail.silent": "silent for {n} s",
    "detail.last_will": "last will: the app lost its connection",
    ack: "ack",
    rollCall: "roll call",
    rollCallWaiting: "roll call: waiting for the devices to answer…",
    rollCallAnswered: "{n} of {of} answered",
    "rollCall.answered": "answered",
    "rollCall.timeout": "no answer (timeout)",
    "rollCall.offline": "offline",
    "rollCall.unsupported": "not supported",
    ackNote: "note (what was done)",
    ackSend: "acknowledge",
    open: "{n} open",
    more: "{n} more",
    allKinds: "all kinds",
    allAreas: "all areas",
    noArea: "no grid",
    kindFilter: "filter by alert kind",
    areaFilter: "filter by area",
  },
};

const LANG_KEY = "gridpatrol-lang";
let lang = STRINGS[localStorage.getItem(LANG_KEY)] ? localStorage.getItem(LANG_KEY) : "zh";

function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name]));
}

function kindLabel(kind) {
  return STRINGS[lang]["kind." + kind] ?? kind;
}

// An alert's detail is English text from patrol/live.py; the known ones are read back into
// their key and number, anything else is shown as it came.
const DETAILS = [
  [/^no visit for (\d+) min$/, "detail.no_visit"],
  [/^silent for (\d+) s$/, "detail.silent"],
  [/^last will: the app lost its connection$/, "detail.last_will"],
];

function detailLabel(detail) {
  for (const [pattern, key] of DETAILS) {
    const m = pattern.exec(detail);
    if (m) return t(key, { n: m[1] });
  }
  return detail;
}

// Static labels in index.html: data-i18n sets the text, data-i18n-title the tooltip and
// aria-label, data-i18n-placeholder the placeholder.
function translatePage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-title]").forEach(el => {
    el.title = t(el.dataset.i18nTitle);
    el.setAttribute("aria-label", el.title);
  });
  document.querySelectorAll("[data-i18n-placeholder]").forEach(el => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
}

function setLanguage(next) {
  lang = next;
  localStorage.setItem(LANG_KEY, next);
  translatePage();
}
