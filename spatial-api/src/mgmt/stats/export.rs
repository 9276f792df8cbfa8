//! The evaluation table as a download: CSV (UTF-8 with a byte-order mark, so that
//! spreadsheet programs read the Chinese headers) or XLSX (`rust_xlsxwriter`). One row
//! per group and a last row `total`; counts are numbers, rates fractions (0.75; empty
//! when the denominator is zero; shown as percentages in XLSX).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use citygrid_grid_mgmt::evaluation::{Counts, Figures, GroupFigures};

use crate::error::{ApiError, ApiResult};

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Count(u64),
    /// A rate (fraction), none when undefined.
    Rate(Option<f64>),
}

/// The table: headers and rows.
pub struct Table {
    /// Column headers (Chinese and English).
    pub headers: Vec<&'static str>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
}

/// The headers of the columns, in order.
pub const HEADERS: [&str; 26] = [
    "分组 group",
    "名称 name",
    "上报数 reported",
    "立案数 registered",
    "派遣数 dispatched",
    "按时派遣数 dispatched in time",
    "准确派遣数 dispatched without return",
    "应处置数 due for handling",
    "按期处置数 handled in time",
    "延期数 extended",
    "处置数 handled",
    "返工数 failed checks",
    "应结案数 due for closing",
    "应结案挂账数 due for closing and suspended",
    "结案数 closed",
    "按期结案数 closed in time",
    "挂账数 suspended",
    "立案率 registration rate",
    "按时派遣率 on-time dispatch rate",
    "准确派遣率 accurate dispatch rate",
    "按期处置率 on-time handling rate",
    "结案率 closing rate",
    "按期结案率 on-time closing rate",
    "返工率 rework rate",
    "延期率 extension rate",
    "挂账数(期末) suspended count",
];

fn row(key: String, name: String, c: &Counts) -> Vec<Cell> {
    let f = Figures::from_counts(c);
    let mut out = vec![Cell::Text(key), Cell::Text(name)];
    out.extend(
        [
            c.reported,
            c.registered,
            c.dispatched,
            c.dispatched_in_time,
            c.dispatched_without_return,
            c.due_for_handling,
            c.handled_in_time,
            c.extended,
            c.handled,
            c.failed_checks,
            c.due_for_closing,
            c.due_for_closing_suspended,
            c.closed,
            c.closed_in_time,
            c.suspended,
        ]
        .map(Cell::Count),
    );
    out.extend(
        [
            f.registration_rate,
            f.on_time_dispatch_rate,
            f.accurate_dispatch_rate,
            f.on_time_handling_rate,
            f.closing_rate,
            f.on_time_closing_rate,
            f.rework_rate,
            f.extension_rate,
        ]
        .map(Cell::Rate),
    );
    out.push(Cell::Count(f.suspended_count));
    out
}

/// The table of the groups (a group without a key is `—`) and the total.
pub fn table(groups: &[GroupFigures], total: &Counts, name: &dyn Fn(&str) -> String) -> Table {
    let mut rows: Vec<Vec<Cell>> = groups
        .iter()
        .map(|g| {
            let key = g.key.clone().unwrap_or_else(|| "—".into());
            let n = g.key.as_deref().map(name).unwrap_or_default();
            row(key, n, &g.counts)
        })
        .collect();
    rows.push(row("total".into(), "合计 total".into(), total));
    Table {
        headers: HEADERS.to_vec(),
        rows,
    }
}

/// A cell of CSV text (quoted when needed; a leading formula character is neutralised).
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s != "—" {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The table as CSV.
pub fn csv(t: &Table) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(
        &t.headers
            .iter()
            .map(|h| csv_cell(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for r in &t.rows {
        let cells: Vec<String> = r
            .iter()
            .map(|c| match c {
                Cell::Text(s) => csv_cell(s),
                Cell::Count(n) => n.to_string(),
                Cell::Rate(Some(v)) => v.to_string(),
                Cell::Rate(None) => String::new(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The table as an XLSX workbook (one sheet, `evaluation`).
pub fn xlsx(t: &Table) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("evaluation")?;
    let bold = Format::new().set_bold();
    let pct = Format::new().set_num_format("0.0%");
    for (c, h) in t.headers.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), *h, &bold)?;
    }
    for (r, cells) in t.rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, cell) in cells.iter().enumerate() {
            match cell {
                Cell::Text(s) => {
                    sheet.write_string(r, col(c), s)?;
                }
                Cell::Count(n) => {
                    sheet.write_number(r, col(c), *n as f64)?;
                }
                Cell::Rate(Some(v)) => {
                    sheet.write_number_with_format(r, col(c), *v, &pct)?;
                }
                Cell::Rate(None) => {}
            }
        }
    }
    sheet.set_column_width(0, 16)?;
    sheet.set_column_width(1, 20)?;
    book.save_to_buffer()
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

/// The download response (`format` is `csv` or `xlsx`; `stem` names the file).
pub fn respond(format: &str, t: &Table, stem: &str) -> ApiResult<Response> {
    let (body, mime, ext) = match format {
        "csv" => (csv(t).into_bytes(), "text/csv; charset=utf-8", "csv"),
        _ => (
            xlsx(t).map_err(|e| ApiError::Internal(format!("the XLSX export failed: {e}")))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    let disposition = format!("attachment; filename=\"{stem}.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_headers_counts_rates_and_the_total() {
        let c = Counts {
            reported: 4,
            registered: 3,
            ..Counts::default()
        };
        let g = GroupFigures {
            key: Some("=cmd".into()),
            counts: c,
            figures: Figures::from_counts(&c),
        };
        let t = table(&[g], &c, &|_| "a, \"b\"".into());
        let text = csv(&t);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("\u{feff}分组 group,名称 name,上报数 reported"));
        assert!(
            lines[1].starts_with("'=cmd,\"a, \"\"b\"\"\",4,3,0,"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains(",0.75,,"), "{}", lines[1]);
        assert!(lines[2].starts_with("total,合计 total,4,3"));
        assert_eq!(lines[1].split(',').count(), HEADERS.len() + 1); // the quoted comma
        let bytes = xlsx(&t).unwrap();
        assert_eq!(&bytes[..2], b"PK");
    }
}
