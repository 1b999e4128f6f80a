//! `report.xlsx`: an index sheet, then one sheet per table of the report. Money is a number
//! with two decimals (not text), headers are frozen and filterable, a totals row is bold.
//! A column of codes is written as its label followed by a column with the code itself.

use super::doc::{Cell, Doc, Table, yuan};
use anyhow::{Context, Result};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatBorder, Url, Workbook, Worksheet};

struct Formats {
    head: Format,
    money: Format,
    int: Format,
    pct: Format,
    total_text: Format,
    total_money: Format,
    total_int: Format,
}

fn formats() -> Formats {
    let head = Format::new().set_bold().set_background_color(0xF1F3F7).set_border_bottom(FormatBorder::Thin);
    let total = Format::new().set_bold().set_border_top(FormatBorder::Thin);
    Formats {
        head,
        money: Format::new().set_num_format("#,##0.00"),
        int: Format::new().set_num_format("#,##0"),
        pct: Format::new().set_num_format("0.00%"),
        total_text: total.clone(),
        total_money: total.clone().set_num_format("#,##0.00"),
        total_int: total.set_num_format("#,##0"),
    }
}

/// Which columns hold codes (they get a code column beside the label).
fn code_columns(t: &Table) -> Vec<bool> {
    (0..t.columns.len()).map(|j| t.rows.iter().any(|r| matches!(r.get(j), Some(Cell::Code(_))))).collect()
}

fn write_row(ws: &mut Worksheet, row: u32, cells: &[Cell], codes: &[bool], f: &Formats, total: bool, d: &Doc) -> Result<()> {
    let mut col: u16 = 0;
    for (j, c) in cells.iter().enumerate() {
        match c {
            Cell::Text(s) => {
                if total {
                    ws.write_string_with_format(row, col, s, &f.total_text)?;
                } else {
                    ws.write_string(row, col, s)?;
                }
            }
            Cell::Code(code) => {
                ws.write_string(row, col, d.lang.term(code))?;
            }
            Cell::Int(i) => {
                ws.write_number_with_format(row, col, *i as f64, if total { &f.total_int } else { &f.int })?;
            }
            Cell::Year(y) => {
                ws.write_number(row, col, *y as f64)?;
            }
            Cell::Money(m) => {
                ws.write_number_with_format(row, col, yuan(*m), if total { &f.total_money } else { &f.money })?;
            }
            Cell::Ratio(Some(r)) => {
                ws.write_number_with_format(row, col, *r, &f.pct)?;
            }
            Cell::Ratio(None) | Cell::Empty => {}
        }
        col += 1;
        if codes.get(j).copied().unwrap_or(false) {
            if let Cell::Code(code) = c {
                ws.write_string(row, col, code)?;
            }
            col += 1;
        }
    }
    Ok(())
}

fn sheet(wb: &mut Workbook, t: &Table, f: &Formats, d: &Doc) -> Result<()> {
    let ws = wb.add_worksheet();
    ws.set_name(t.name)?;
    let codes = code_columns(t);
    let mut col: u16 = 0;
    for (j, c) in t.columns.iter().enumerate() {
        ws.write_string_with_format(0, col, &c.head, &f.head)?;
        col += 1;
        if codes[j] {
            ws.write_string_with_format(0, col, c.key, &f.head)?;
            col += 1;
        }
    }
    let mut row = 1u32;
    for r in &t.rows {
        write_row(ws, row, r, &codes, f, false, d)?;
        row += 1;
    }
    if let Some(tot) = &t.totals {
        write_row(ws, row, tot, &codes, f, true, d)?;
        row += 1;
    }
    if !t.note.is_empty() {
        ws.write_string(row + 1, 0, &t.note)?;
    }
    ws.set_freeze_panes(1, 0)?;
    if !t.rows.is_empty() {
        ws.autofilter(0, 0, t.rows.len() as u32, col.saturating_sub(1))?;
    }
    ws.autofit();
    Ok(())
}

/// The workbook as bytes.
pub fn render(d: &Doc) -> Result<Vec<u8>> {
    let f = formats();
    let mut wb = Workbook::new();
    // A fixed creation time (the zip epoch): the same run gives the same bytes; the run's
    // time is in the file system and its manifest's inputs, not in the report.
    wb.set_properties(&DocProperties::new().set_creation_datetime(&ExcelDateTime::from_ymd(1980, 1, 1)?));
    let tables: Vec<&Table> = d.tables().collect();
    {
        let ws = wb.add_worksheet();
        ws.set_name("index")?;
        ws.write_string_with_format(0, 0, &d.title, &f.total_text)?;
        ws.write_string(1, 0, &d.subtitle)?;
        let head = [d.lang.pick("工作表", "sheet"), d.lang.pick("内容", "content"), d.lang.pick("行数", "rows")];
        for (j, h) in head.iter().enumerate() {
            ws.write_string_with_format(3, j as u16, *h, &f.head)?;
        }
        for (i, t) in tables.iter().enumerate() {
            let row = 4 + i as u32;
            ws.write_url_with_text(row, 0, Url::new(format!("internal:'{}'!A1", t.name)), t.name)?;
            ws.write_string(row, 1, &t.title)?;
            ws.write_number_with_format(row, 2, t.rows.len() as f64, &f.int)?;
        }
        ws.set_freeze_panes(4, 0)?;
        ws.autofit();
    }
    for t in &tables {
        sheet(&mut wb, t, &f, d).with_context(|| format!("report.xlsx sheet {}", t.name))?;
    }
    Ok(wb.save_to_buffer()?)
}
