// The big screen's catalogue: [English, 中文] of everything the supervision hall's
// wall display shows. Imported before anything renders.

import { addText } from './i18n.js';

export const BIGSCREEN_TEXT = {
  bsTitle: ['Supervision hall', '城市管理监督指挥中心'],
  bsConnecting: ['Connecting…', '正在连接…'],
  bsLive: ['Live', '实时'],
  bsReconnecting: ['Reconnecting…', '正在重连…'],
  bsReportedToday: ['Reported today', '今日上报'],
  bsOpen: ['Open cases', '在办案卷'],
  bsOverdue: ['Overdue', '超期案卷'],
  bsClosedToday: ['Closed today', '今日结案'],
  bsOnTime: ['Closed on time', '按期结案率'],
  bsBySource: ['Today by source', '今日上报来源'],
  bsNoReports: ['no reports yet', '暂无上报'],
  bsMap: ['Open cases on the map', '在办案卷分布'],
  bsShown: ['shown', '已显示'],
  bsOf: ['of', '共'],
  bsTopOverdue: ['Most overdue', '超期最久'],
  bsNoneOverdue: ['No case is overdue', '无超期案卷'],
  bsRanking: ['Departments: on-time handling', '部门按期处置率排名'],
  bsThisMonth: ['this month', '本月'],
  bsNoRanking: ['No department had a case due this month', '本月暂无到期案卷'],
  bsDue: ['due', '时限'],
  bsCase: ['case', '件'],
  bsCases: ['cases', '件'],
  bsLegendOverdue: ['Overdue', '已超期'],
  bsLegendSoon: ['Due within 24 h', '24小时内到期'],
  bsLegendRunning: ['Running', '办理中'],
  bsLegendSuspended: ['Suspended', '挂账'],
  bsNotAllowed: ['The big screen is for the supervision centre (shift leaders, acceptors, dispatchers, administrators).', '大屏仅供监督指挥中心使用（值班长、受理员、派遣员、管理员）。'],
  bsUpdated: ['Updated', '更新于'],
};

addText(BIGSCREEN_TEXT);
