//! How client commands print: aligned tables with Chinese and English headers for people,
//! JSON (one object per line for lists, one document for a single record) and CSV for scripts,
//! and an Excel sheet for the reports a committee office prints.

use std::path::Path;

use anyhow::Context;
use comfy_table::{ContentArrangement, Table as Grid, presets::UTF8_FULL_CONDENSED};
use serde_json::{Map, Value};

/// How an answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for scripts.
    Json,
    /// CSV with a header row.
    Csv,
}

/// A column: its key (JSON key, CSV header) and its Chinese label.
pub type Column = (&'static str, &'static str);

/// Rows of values under named columns, printed in any [`Format`].
///
/// A number is a JSON number in the row (a number in JSON and in a sheet, never text); a column
/// marked with [`Table::decimals`] shows its numbers with that many decimals. A missing number is
/// `null`, an empty cell: the reason goes in a column of its own.
#[derive(Debug, Default)]
pub struct Table {
    columns: Vec<(String, String)>,
    rows: Vec<Vec<Value>>,
    /// Decimals shown for the numbers of a column, by column index.
    decimals: std::collections::HashMap<usize, usize>,
}

/// A cell as people read it.
pub fn display(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[Column]) -> Self {
        Self::with_columns(
            columns
                .iter()
                .map(|(key, zh)| ((*key).to_string(), (*zh).to_string()))
                .collect(),
        )
    }

    /// An empty table with columns known only at run time (key, Chinese label).
    pub fn with_columns(columns: Vec<(String, String)>) -> Self {
        Self {
            columns,
            rows: Vec::new(),
            decimals: std::collections::HashMap::new(),
        }
    }

    /// Shows the numbers of the columns `keys` with `places` decimals (e.g. scores as 94.00).
    pub fn decimals(mut self, keys: &[&str], places: usize) -> Self {
        for (index, (key, _)) in self.columns.iter().enumerate() {
            if keys.contains(&key.as_str()) {
                self.decimals.insert(index, places);
            }
        }
        self
    }

    /// A cell as people read it, with its column's decimals.
    fn cell(&self, column: usize, value: &Value) -> String {
        match (value.as_f64(), self.decimals.get(&column)) {
            (Some(number), Some(places)) => format!("{number:.places$}"),
            _ => display(value),
        }
    }

    /// Adds a row (one value per column).
    pub fn row(&mut self, cells: Vec<Value>) {
        self.rows.push(cells);
    }

    /// The rows added so far.
    pub fn rows(&self) -> &[Vec<Value>] {
        &self.rows
    }

    fn object(&self, row: &[Value]) -> Value {
        let mut object = Map::new();
        for ((key, _), value) in self.columns.iter().zip(row) {
            object.insert(key.clone(), value.clone());
        }
        Value::Object(object)
    }

    /// Prints the table: a grid, one JSON object per row and line, or CSV with a header row.
    pub fn print(&self, format: Format) -> anyhow::Result<()> {
        match format {
            Format::Table if self.rows.is_empty() => println!("(none)"),
            Format::Table => {
                let mut grid = Grid::new();
                grid.load_style(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_header(
                        self.columns
                            .iter()
                            .map(|(key, zh)| format!("{zh}\n{}", key.replace('_', " "))),
                    );
                for row in &self.rows {
                    grid.add_row(row.iter().enumerate().map(|(i, v)| self.cell(i, v)));
                }
                println!("{grid}");
            }
            Format::Json => {
                for row in &self.rows {
                    println!("{}", self.object(row));
                }
            }
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(std::io::stdout());
                writer.write_record(self.columns.iter().map(|(key, _)| key))?;
                for row in &self.rows {
                    writer.write_record(row.iter().enumerate().map(|(i, v)| self.cell(i, v)))?;
                }
                writer.flush()?;
            }
        }
        Ok(())
    }

    /// Writes the table as an Excel sheet a committee office can print: a title row, Chinese
    /// headers, one row per record.
    pub fn write_xlsx(&self, path: &Path, title: &str) -> anyhow::Result<()> {
        use rust_xlsxwriter::{Format as Style, FormatBorder, Workbook};
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name("结果")?;
        let bold = Style::new().set_bold();
        let header = Style::new()
            .set_bold()
            .set_border(FormatBorder::Thin)
            .set_background_color("#DDDDDD");
        let cell = Style::new().set_border(FormatBorder::Thin);
        // A4 (paper size 9), landscape, as wide as one page; the header row repeats on every
        // printed page.
        sheet
            .set_paper_size(9)
            .set_landscape()
            .set_print_fit_to_pages(1, 0);
        sheet.set_repeat_rows(2, 2)?;
        sheet.write_string_with_format(0, 0, title, &bold)?;
        for (col, (_, zh)) in self.columns.iter().enumerate() {
            let col = u16::try_from(col).context("too many columns for a sheet")?;
            sheet.write_string_with_format(2, col, zh, &header)?;
            sheet.set_column_width(col, 16)?;
        }
        // A column with decimals shows its numbers with them (the cell keeps the number).
        let with_places: std::collections::HashMap<usize, Style> = self
            .decimals
            .iter()
            .map(|(column, places)| {
                let pattern = if *places == 0 {
                    "0".to_string()
                } else {
                    format!("0.{}", "0".repeat(*places))
                };
                (*column, cell.clone().set_num_format(pattern))
            })
            .collect();
        for (index, row) in self.rows.iter().enumerate() {
            let line = u32::try_from(index + 3).context("too many rows for a sheet")?;
            for (column, value) in row.iter().enumerate() {
                let col = u16::try_from(column).context("too many columns for a sheet")?;
                let number_style = with_places.get(&column).unwrap_or(&cell);
                match value {
                    Value::Null => sheet.write_blank(line, col, &cell)?,
                    Value::Number(n) => match n.as_f64() {
                        Some(f) => sheet.write_number_with_format(line, col, f, number_style)?,
                        None => sheet.write_string_with_format(line, col, display(value), &cell)?,
                    },
                    Value::Bool(yes) => sheet.write_string_with_format(
                        line,
                        col,
                        if *yes { "是" } else { "否" },
                        &cell,
                    )?,
                    _ => sheet.write_string_with_format(line, col, display(value), &cell)?,
                };
            }
        }
        workbook
            .save(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// Prints one record: a two-column grid of fields for people, one JSON document, or CSV with a
/// header row and one line.
pub fn record(format: Format, fields: &[(Column, Value)]) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let mut grid = Grid::new();
            grid.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic);
            for ((key, zh), value) in fields {
                grid.add_row(vec![
                    format!("{zh} {}", key.replace('_', " ")),
                    display(value),
                ]);
            }
            println!("{grid}");
            Ok(())
        }
        Format::Json | Format::Csv => {
            let columns: Vec<Column> = fields.iter().map(|(c, _)| *c).collect();
            let mut table = Table::new(&columns);
            table.row(fields.iter().map(|(_, v)| v.clone()).collect());
            if format == Format::Json {
                println!("{}", table.object(&table.rows[0]));
                Ok(())
            } else {
                table.print(format)
            }
        }
    }
}

/// Reports what a command did: a sentence naming the log position for people, the reply as one
/// JSON document for scripts (CSV prints the sentence too).
pub fn done(format: Format, sentence: String, reply: Value) {
    if let Some(position) = reply.get("position").and_then(Value::as_u64) {
        super::positions::keep(position);
    }
    match format {
        Format::Json => println!("{reply}"),
        Format::Table | Format::Csv => println!("{sentence}"),
    }
}

/// A rating option or grade code with its Chinese and English words, e.g.
/// `满意 satisfied` for `satisfied`.
pub fn rating(code: &str) -> String {
    let zh = match code {
        "satisfied" => "满意",
        "basically_satisfied" => "基本满意",
        "dissatisfied" => "不满意",
        "excellent" => "优秀",
        "competent" => "称职",
        "basically_competent" => "基本称职",
        "incompetent" => "不称职",
        "dont_know" => "不了解",
        _ => return code.to_string(),
    };
    format!("{zh} {}", code.replace('_', " "))
}

/// A string as a JSON value, `null` when empty.
pub fn opt(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_string())
    }
}

/// A protobuf enum value's name as a lowercase word: `COMMITTEE_LEVEL_CITY` with prefix
/// `COMMITTEE_LEVEL_` becomes `city`.
pub fn word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// A protobuf timestamp as RFC 3339 UTC (seconds), empty when unset.
pub fn timestamp(time: Option<&prost_types::Timestamp>) -> String {
    time.and_then(|t| {
        chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
    })
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    .unwrap_or_default()
}

/// Reads a moment given as `YYYY-MM-DD` (the start of that day, UTC), `YYYY-MM-DDTHH:MM` (UTC) or
/// RFC 3339; `None` means now.
pub fn parse_time(flag: &str, text: Option<&str>) -> anyhow::Result<prost_types::Timestamp> {
    use chrono::{NaiveDate, NaiveDateTime, Utc};
    let moment = match text {
        None => Utc::now(),
        Some(text) => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
                t.with_timezone(&Utc)
            } else if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M") {
                t.and_utc()
            } else if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                day.and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .ok_or_else(|| anyhow::anyhow!("{flag} {text:?} is not a valid day"))?
            } else {
                anyhow::bail!(
                    "{flag} {text:?} is not a date: write YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC) or RFC 3339"
                );
            }
        }
    };
    Ok(prost_types::Timestamp {
        seconds: moment.timestamp(),
        nanos: 0,
    })
}

/// The request fields the client commands fill from a flag of the same meaning, by field path:
/// an invalid one is named by the flag the person typed.
const FLAGS: &[(&str, &str)] = &[
    ("ratings.work_discipline", "--discipline"),
    ("ratings.service_quality", "--service"),
    ("ratings.efficiency", "--efficiency"),
    ("raised_on", "--raised-on"),
    ("appointed_on", "--appointed-on"),
    ("due_on", "--due"),
    ("participants", "--participants"),
    ("source_ref", "--source-ref"),
];

/// The field violations of a refused request (`google.rpc.BadRequest`), each with the flag that
/// filled its field (the field path itself when no flag maps to it).
pub fn flag_violations(
    status: &tonic::Status,
) -> Vec<(String, oversight::api::status::FieldViolation)> {
    oversight::api::status::field_violations(status)
        .into_iter()
        .map(|violation| {
            let flag = FLAGS
                .iter()
                .find(|(field, _)| *field == violation.field)
                .map_or_else(
                    || format!("field {}", violation.field),
                    |(_, flag)| (*flag).to_string(),
                );
            (flag, violation)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cells_read_as_people_write_them() {
        assert_eq!(display(&Value::Null), "");
        assert_eq!(display(&json!(true)), "yes");
        assert_eq!(display(&json!(["a1", "a2"])), "a1, a2");
        assert_eq!(display(&json!(94)), "94");
        assert_eq!(display(&json!("满意")), "满意");
    }

    #[test]
    fn ratings_are_bilingual_and_unknown_codes_stay_as_they_are() {
        assert_eq!(
            rating("basically_satisfied"),
            "基本满意 basically satisfied"
        );
        assert_eq!(
            rating("basically_competent"),
            "基本称职 basically competent"
        );
        assert_eq!(rating("custom_option"), "custom_option");
        assert_eq!(word("COMMITTEE_LEVEL_CITY", "COMMITTEE_LEVEL_"), "city");
    }

    #[test]
    fn moments_are_days_minutes_or_rfc3339() {
        let day = parse_time("--at", Some("2026-05-12")).unwrap();
        assert_eq!(day.seconds, 1_778_544_000);
        let minute = parse_time("--at", Some("2026-05-12T08:30")).unwrap();
        assert_eq!(minute.seconds, day.seconds + 8 * 3600 + 30 * 60);
        let zoned = parse_time("--at", Some("2026-05-12T08:00:00+08:00")).unwrap();
        assert_eq!(zoned.seconds, day.seconds);
        let error = parse_time("--at", Some("12/05/2026")).unwrap_err();
        assert!(error.to_string().contains("YYYY-MM-DD"), "{error}");
    }
}
