//! A human report as data: sections of tables, charts and text. One document is rendered to
//! `report.html` ([`super::html`]), `report.xlsx` ([`super::xlsx`]) and its tables to CSV
//! ([`Table::write_csv`], the one CSV writer of the small tables).

use super::i18n::Lang;
use crate::model::Money;
use anyhow::Result;
use std::io::Write;

/// One table cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    /// A code shown by its label in the report's language; machine outputs keep the code.
    Code(String),
    Int(i64),
    /// A year (or another number shown without digit grouping, never totalled).
    Year(i32),
    Money(Money),
    /// A ratio (0.125 = 12.5 %); `None` = not defined (division by zero).
    Ratio(Option<f64>),
    Empty,
}

impl Cell {
    pub fn code(s: impl Into<String>) -> Cell {
        Cell::Code(s.into())
    }
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
    /// The machine form (CSV): codes as codes, money with two decimals, ratios as decimals.
    pub fn machine(&self) -> String {
        match self {
            Cell::Text(s) | Cell::Code(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Year(y) => y.to_string(),
            Cell::Money(m) => m.to_string(),
            Cell::Ratio(Some(r)) => format!("{r:.6}"),
            Cell::Ratio(None) | Cell::Empty => String::new(),
        }
    }
    /// The human form: labels, thousands separators, percentages.
    pub fn human(&self, lang: Lang) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Code(s) => lang.term(s),
            Cell::Int(i) => group_digits(&i.to_string()),
            Cell::Year(y) => y.to_string(),
            Cell::Money(m) => group_digits(&m.to_string()),
            Cell::Ratio(Some(r)) => format!("{:.2}%", r * 100.0),
            Cell::Ratio(None) => "–".into(),
            Cell::Empty => String::new(),
        }
    }
    pub fn is_numeric(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Year(_) | Cell::Money(_) | Cell::Ratio(_))
    }
}

/// `1234567.50` → `1,234,567.50`.
pub fn group_digits(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest.split_once('.').map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::with_capacity(s.len() + int.len() / 3);
    out.push_str(sign);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A column: its machine name (CSV header, xlsx code column) and its human heading.
#[derive(Clone, Debug)]
pub struct Column {
    pub key: &'static str,
    pub head: String,
}

/// A table with an optional totals row.
#[derive(Clone, Debug)]
pub struct Table {
    /// Machine name: the xlsx sheet name and the CSV file stem (≤ 31 ASCII characters).
    pub name: &'static str,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub totals: Option<Vec<Cell>>,
    /// A sentence under the table (definitions, what is left out).
    pub note: String,
}

impl Table {
    pub fn new(name: &'static str, title: impl Into<String>, columns: Vec<(&'static str, String)>) -> Table {
        Table {
            name,
            title: title.into(),
            columns: columns.into_iter().map(|(key, head)| Column { key, head }).collect(),
            rows: Vec::new(),
            totals: None,
            note: String::new(),
        }
    }
    /// Adds a totals row: the given leading cells, then the sum of each money / integer
    /// column (other columns empty).
    pub fn add_totals(&mut self, label: Cell) {
        let mut t = vec![Cell::Empty; self.columns.len()];
        t[0] = label;
        for (j, cell) in t.iter_mut().enumerate().skip(1) {
            let mut money: Option<Money> = None;
            let mut int: Option<i64> = None;
            for r in &self.rows {
                match r.get(j) {
                    Some(Cell::Money(m)) => *money.get_or_insert(Money::ZERO) += *m,
                    Some(Cell::Int(i)) => *int.get_or_insert(0) += *i,
                    _ => {}
                }
            }
            if let Some(m) = money {
                *cell = Cell::Money(m);
            } else if let Some(i) = int {
                *cell = Cell::Int(i);
            }
        }
        self.totals = Some(t);
    }
    /// The table as CSV (machine column names, codes, plain decimals), through the csv crate
    /// so a comma or quote in a name stays inside its field.
    pub fn write_csv(&self, w: impl Write) -> Result<()> {
        let mut cw = csv::Writer::from_writer(w);
        cw.write_record(self.columns.iter().map(|c| c.key))?;
        for r in &self.rows {
            cw.write_record(r.iter().map(Cell::machine))?;
        }
        cw.flush()?;
        Ok(())
    }
}

/// A chart series: a name and one value per category (or per x).
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// What a chart draws.
#[derive(Clone, Debug)]
pub enum ChartKind {
    /// Bars per category; `stacked` puts the series on top of each other.
    Bars { categories: Vec<String>, stacked: bool },
    /// One horizontal bar per category (long labels), the value written at its end.
    HBars { categories: Vec<String> },
    /// Lines over numeric x values (a concentration curve, a cost curve).
    Lines { x: Vec<f64>, x_label: String, y_label: String, percent_axes: bool },
}

#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub kind: ChartKind,
    pub series: Vec<Series>,
    /// Values are yuan (axis in 万 / thousands).
    pub money: bool,
}

/// A part of a section.
#[derive(Clone, Debug)]
pub enum Block {
    Table(Table),
    Chart(Chart),
    Text(String),
    /// Preformatted text (the manifest).
    Code(String),
}

#[derive(Clone, Debug)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// A whole human report.
#[derive(Clone, Debug)]
pub struct Doc {
    pub title: String,
    pub subtitle: String,
    pub lang: Lang,
    pub sections: Vec<Section>,
}

impl Doc {
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.sections.iter().flat_map(|s| s.blocks.iter()).filter_map(|b| match b {
            Block::Table(t) => Some(t),
            _ => None,
        })
    }
}

/// Money as a chart value (drawing only; the tables keep exact money).
pub fn yuan(m: Money) -> f64 {
    m.fen() as f64 / 100.0
}

/// `part / whole`, `None` when `whole` is zero.
pub fn ratio(part: Money, whole: Money) -> Option<f64> {
    (!whole.is_zero()).then(|| part.fen() as f64 / whole.fen() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_three() {
        assert_eq!(group_digits("1234567.50"), "1,234,567.50");
        assert_eq!(group_digits("-1000.00"), "-1,000.00");
        assert_eq!(group_digits("999"), "999");
    }

    #[test]
    fn totals_sum_money_and_counts_and_csv_quotes_commas() -> anyhow::Result<()> {
        let mut t = Table::new("t", "T", vec![("name", "名称".into()), ("n", "数量".into()), ("amount", "金额".into())]);
        t.rows.push(vec![Cell::text("a, b"), Cell::Int(2), Cell::Money(Money::from_fen(150))]);
        t.rows.push(vec![Cell::text("c"), Cell::Int(3), Cell::Money(Money::from_fen(-50))]);
        t.add_totals(Cell::text("total"));
        // 2 + 3 = 5; 1.50 − 0.50 = 1.00
        assert_eq!(t.totals, Some(vec![Cell::text("total"), Cell::Int(5), Cell::Money(Money::from_fen(100))]));
        let mut buf = Vec::new();
        t.write_csv(&mut buf)?;
        assert_eq!(String::from_utf8(buf)?, "name,n,amount\n\"a, b\",2,1.50\nc,3,-0.50\n");
        Ok(())
    }
}
