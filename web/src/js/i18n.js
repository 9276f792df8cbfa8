// Chinese and English text of the pages. Elements carry data-i18n="key" (text),
// data-i18n-placeholder / data-i18n-title (attributes); scripts call t(key).

const TEXT = {
  app: ['citygrid', '城市网格'],
  viewer: ['Map', '地图'],
  inspector: ['Inspector', '监督员'],
  console: ['Case console', '案卷中心'],
  embed: ['Embed', '嵌入地图'],
  lang: ['中文', 'English'],
  layers: ['Layers', '图层'],
  tools: ['Tools', '工具'],
  search: ['Search', '搜索'],
  searchHint: ['Grid code, component id, case number or place', '网格编码、部件编码、案卷号或地名'],
  noResult: ['Nothing found', '未找到'],
  measureLength: ['Measure length', '测距离'],
  measureArea: ['Measure area', '测面积'],
  queryPolygon: ['Query in polygon', '多边形统计'],
  finish: ['Finish', '完成'],
  clear: ['Clear', '清除'],
  drawHint: ['Click on the map to add points; Finish (or double-click) ends.', '在地图上点击加点，点“完成”或双击结束。'],
  length: ['Length', '长度'],
  area: ['Area', '面积'],
  perimeter: ['Perimeter', '周长'],
  features: ['Features', '要素'],
  count: ['Count', '数量'],
  cursor: ['Cursor', '光标'],
  loading: ['Loading…', '加载中…'],
  error: ['Error', '错误'],
  cases: ['Cases', '案卷'],
  overdue: ['Overdue', '超期'],
  legendCases: ['Cases by status', '案卷状态'],
  signIn: ['Sign in', '登录'],
  signOut: ['Sign out', '退出'],
  username: ['User name', '用户名'],
  password: ['Password', '密码'],
  signedInAs: ['Signed in as', '当前用户'],
  report: ['Report', '上报'],
  myReports: ['My reports', '我的上报'],
  myTasks: ['My tasks', '我的任务'],
  location: ['Location', '位置'],
  useMyLocation: ['Use my location', '使用当前位置'],
  tapMap: ['or tap the map', '或在地图上点选'],
  kind: ['Kind', '类型'],
  component: ['Component', '部件'],
  event: ['Event', '事件'],
  majorClass: ['Major class', '大类'],
  subClass: ['Subclass', '小类'],
  nearby: ['Nearby components', '附近部件'],
  none: ['None', '无'],
  photo: ['Photo', '照片'],
  photoHint: ['JPEG, PNG or WebP, at most 8 MB', 'JPEG、PNG 或 WebP，不超过 8 MB'],
  photoTooBig: ['The photo is larger than 8 MB', '照片超过 8 MB'],
  photoType: ['The photo must be JPEG, PNG or WebP', '照片须为 JPEG、PNG 或 WebP'],
  note: ['Note', '说明'],
  submit: ['Submit', '提交'],
  reported: ['Reported: case', '已上报，案卷号'],
  needLocation: ['Choose a location first', '请先选择位置'],
  needCategory: ['Choose a category', '请选择类别'],
  // The inspector's offline work (outbox, offline map, location checks).
  outbox: ['Outbox', '待发送'],
  outboxHint: ['Reports wait here until the server has them; they are sent when the connection returns.', '上报在此等待，服务器收到后才移除；网络恢复时自动发送。'],
  outboxEmpty: ['Nothing waiting', '没有待发送的上报'],
  outboxWaiting: ['reports wait in the outbox: sign in to send them (nothing is lost)', '条上报在待发送箱中等待：登录后发送（不会丢失）'],
  sentRecently: ['Sent recently', '最近已发送'],
  photos: ['Photos', '照片'],
  tooManyPhotos: ['At most 6 photos per report', '每次上报最多 6 张照片'],
  addPhotos: ['Add photos to this report', '为本案件补充照片'],
  sendPhotos: ['Send', '发送'],
  photosQueued: ['Photos kept in the outbox: they are sent when the connection returns', '照片已存入待发箱，网络恢复后自动发送'],
  photoUnreadable: ['The photo cannot be read', '无法读取照片'],
  outsideGrids: ['This point is outside your unit grids; the server refuses a point outside every unit grid.', '该位置不在您负责的单元网格内；不在任何单元网格内的位置会被服务器拒绝。'],
  queueAnyway: ['Queue it anyway', '仍然提交'],
  editing: ['Editing a report of the outbox', '正在修改待发送的上报'],
  cancel: ['Cancel', '取消'],
  edit: ['Edit', '修改'],
  discard: ['Discard', '放弃'],
  discardForGood: ['Discard for good?', '确定放弃？'],
  stPending: ['Waiting to be sent', '等待发送'],
  stSending: ['Sending…', '发送中…'],
  stFailed: ['Refused by the server', '服务器拒绝'],
  stSignin: ['Waiting for sign-in', '等待登录'],
  retryAt: ['next try', '下次重试'],
  caseCreated: ['case created', '已立卷'],
  photosWaiting: ['photos waiting', '张照片待上传'],
  savedOutbox: ['Saved in the outbox: it is sent when the connection returns.', '已存入待发送箱，网络恢复后自动发送。'],
  keptOutbox: ['Kept in the outbox', '已保留在待发送箱'],
  signInAgain: ['Your sign-in has expired: sign in again to send the outbox (nothing is lost).', '登录已过期：请重新登录以发送待发送箱（不会丢失）。'],
  online: ['Online', '在线'],
  offline: ['Offline', '离线'],
  accuracy: ['GPS accuracy', 'GPS 精度'],
  accuracyPoor: ['poor: tap the map to correct the point', '较差：可在地图上点选纠正'],
  noOwnGrids: ['No unit grid is assigned to you', '您尚未分配单元网格'],
  offlineMap: ['Offline map', '离线地图'],
  offlineMapOf: ['of', '/'],
  offlineMapTiles: ['tiles', '个瓦片'],
  offlineMapNone: ['Not downloaded yet', '尚未下载'],
  offlineMapBusy: ['Downloading…', '下载中…'],
  offlineMapCut: ['the size cap was reached: part of the area is missing', '已达容量上限：部分区域未下载'],
  refreshOfflineMap: ['Refresh offline map', '更新离线地图'],
  verify: ['Verify', '核实'],
  check: ['Check on site', '核查'],
  pass: ['Passed', '通过'],
  fail: ['Failed', '不通过'],
  queue: ['Queue', '待办'],
  allCases: ['All cases', '全部案卷'],
  dashboard: ['Evaluation', '绩效评价'],
  timeline: ['Timeline', '处理过程'],
  status: ['Status', '状态'],
  category: ['Category', '类别'],
  department: ['Department', '部门'],
  suggested: ['Suggested department', '建议部门'],
  deadline: ['Deadline', '时限'],
  duplicates: ['Possible duplicates', '疑似重复'],
  actions: ['Actions', '操作'],
  register: ['Register', '立案'],
  void: ['Void', '作废'],
  dispatch: ['Dispatch', '派遣'],
  accept: ['Accept', '签收'],
  feedback: ['Feed back', '反馈'],
  returnCase: ['Return', '退回'],
  extend: ['Extend', '延期'],
  approve: ['Approve', '批准'],
  close: ['Close', '结案'],
  reject: ['Reject', '驳回'],
  suspend: ['Suspend', '挂账'],
  resume: ['Resume', '恢复'],
  refresh: ['Refresh', '刷新'],
  noCases: ['No cases here', '暂无案卷'],
  byDepartment: ['By department', '按部门'],
  byArea: ['By area', '按区域'],
  from: ['From', '从'],
  to: ['To', '至'],
  apiKey: ['API key', 'API 密钥'],
  apiKeyHint: ['The key your administrator issued (citygrid key create)', '管理员发放的密钥（citygrid key create）'],
  chooseLayers: ['Choose layers', '选择图层'],
  loadLayers: ['Load layers', '加载图层'],
  iframeSnippet: ['iframe snippet', 'iframe 代码'],
  maplibreSnippet: ['MapLibre snippet', 'MapLibre 代码'],
  preview: ['Live preview', '实时预览'],
  copy: ['Copy', '复制'],
  embedIntro: ['Put a citygrid map on your department\'s site: choose layers, copy a snippet. The key works only from the origins it allows.', '把城市网格地图放到本部门网站：选择图层，复制代码。密钥只在其允许的站点上有效。'],
  mapFailed: ['The map cannot be shown', '无法显示地图'],
  mapFailedKey: ['the API key is missing, unknown, or not allowed on this site', 'API 密钥缺失、无效或不允许在本站点使用'],
  attributes: ['Attributes', '属性'],
  caseNo: ['Case', '案卷'],
  reportedAt: ['Reported', '上报时间'],
  open: ['Open', '打开'],
  result: ['Result', '结果'],
  rate: ['Rate', '比率'],
  done: ['Done', '完成'],
  requestCheck: ['Request on-site check', '请求核查'],
  requestVerification: ['Request verification', '请求核实'],
  attachments: ['attachments', '附件'],
  zoomIn: ['Zoom in', '放大'],
  zoomOut: ['Zoom out', '缩小'],
};

const STATUS = {
  reported: ['Reported', '已上报'], verifying: ['Verifying', '核实中'], registered: ['Registered', '已立案'],
  voided: ['Voided', '已作废'], dispatched: ['Dispatched', '已派遣'], handling: ['Handling', '处置中'],
  suspended: ['Suspended', '挂账'], handled: ['Handled', '已处置'], checking: ['Checking', '核查中'],
  closed: ['Closed', '已结案'], returned: ['Returned', '已退回'], checked: ['Checked', '已核查'],
};

const KEY = 'citygrid.lang';

/** The current language: 'zh' or 'en' (saved choice, else the browser's). */
export function lang() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'zh' || saved === 'en') return saved;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

/** The text for `key` in the current language (the key itself when unknown). */
export function t(key) {
  const entry = TEXT[key];
  if (!entry) return key;
  return lang() === 'zh' ? entry[1] : entry[0];
}

/** The name of a case status. */
export function statusName(status) {
  const entry = STATUS[status];
  if (!entry) return status || '';
  return lang() === 'zh' ? entry[1] : entry[0];
}

/** Fills every [data-i18n] element under `root`. */
export function applyText(root = document) {
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
}

/** Wires the language switch button (id="lang"); `onChange` re-renders dynamic parts. */
export function setupLanguage(onChange = () => {}) {
  applyText();
  const button = document.getElementById('lang');
  if (!button) return;
  button.addEventListener('click', () => {
    localStorage.setItem(KEY, lang() === 'zh' ? 'en' : 'zh');
    applyText();
    onChange();
  });
}

/** Adds a page's own catalogue ({key: [English, 中文]}) to the shared texts. */
export function addText(entries) {
  Object.assign(TEXT, entries);
}

/** Every key of the texts (for the catalogue check of the tests). */
export function textKeys() {
  return Object.keys(TEXT);
}
