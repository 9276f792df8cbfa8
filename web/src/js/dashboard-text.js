// The evaluation dashboard's catalogue: [English, 中文] of its period presets, views,
// figure names (domain.md §6) and export buttons. Imported before anything renders.

import { addText } from './i18n.js';

export const DASHBOARD_TEXT = {
  period: ['Period', '时段'],
  period_custom: ['Dates below', '自定义日期'],
  period_today: ['Today', '今日'],
  period_week: ['This week', '本周'],
  period_month: ['This month', '本月'],
  period_quarter: ['This quarter', '本季度'],
  period_year: ['This year', '本年'],
  evalView: ['View', '视图'],
  by_department: ['Department', '部门'],
  by_street: ['Street', '街道'],
  by_community: ['Community', '社区'],
  by_grid: ['Unit grid', '单元网格'],
  by_person: ['Person', '人员'],
  evalTable: ['Figures', '评价指标'],
  evalReported: ['Reported', '上报数'],
  evalRegistered: ['Registered', '立案数'],
  evalClosed: ['Closed', '结案数'],
  evalTotal: ['Total', '合计'],
  registration_rate: ['Registration rate', '立案率'],
  on_time_dispatch_rate: ['On-time dispatch rate', '按时派遣率'],
  accurate_dispatch_rate: ['Accurate dispatch rate', '准确派遣率'],
  on_time_handling_rate: ['On-time handling rate', '按期处置率'],
  closing_rate: ['Closing rate', '结案率'],
  on_time_closing_rate: ['On-time closing rate', '按期结案率'],
  rework_rate: ['Rework rate', '返工率'],
  extension_rate: ['Extension rate', '延期率'],
  suspended_count: ['Suspended', '挂账数'],
  exportXlsx: ['Export XLSX', '导出 XLSX'],
  exportCsv: ['Export CSV', '导出 CSV'],
  arrangementMissing: ['No public-holiday arrangement imported for', '尚未导入节假日安排的年份：'],
};

addText(DASHBOARD_TEXT);
