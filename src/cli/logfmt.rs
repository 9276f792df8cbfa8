//! Log lines that cannot be forged: every field value (and the message) is written
//! with its control characters escaped, so a value that came from outside (a user
//! name tried at sign-in, a path, a header) can never end the line and start a
//! line of its own, move the cursor or colour the terminal.
//!
//! Used for the text format ([`EscapedFields`] as the subscriber's field
//! formatter); the JSON format escapes control characters by itself.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;

/// Writes `text` with every control character (newlines, carriage returns, tabs,
/// escape, NUL, the C1 controls, line and paragraph separators) as an escape:
/// `\n`, `\r`, `\t`, or `\u{…}`.
pub fn escape_control(text: &str, out: &mut impl fmt::Write) -> fmt::Result {
    for c in text.chars() {
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                write!(out, "\\u{{{:x}}}", u32::from(c))?
            }
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// The field formatter of text logs: `message key=value key=value`, like
/// tracing's default, with every value's control characters escaped
/// ([`escape_control`]). Values recorded with `%` (Display) are written as they
/// display, values recorded with `?` or as plain strings as they debug-print.
#[derive(Debug, Default, Clone, Copy)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer,
            first: true,
            result: Ok(()),
            scratch: String::new(),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
    scratch: String,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        self.scratch.clear();
        if self.scratch.write_fmt(value).is_err() {
            self.result = Err(fmt::Error);
            return;
        }
        let name = field.name();
        // tracing-log's `log.*` fields carry metadata the formatter shows elsewhere.
        if name.starts_with("log.") {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = write_field(&mut self.writer, separator, name, &self.scratch);
    }
}

fn write_field(writer: &mut Writer<'_>, separator: &str, name: &str, value: &str) -> fmt::Result {
    writer.write_str(separator)?;
    if name != "message" {
        // `r#type` and the like are written without their raw prefix.
        writer.write_str(name.strip_prefix("r#").unwrap_or(name))?;
        writer.write_char('=')?;
    }
    escape_control(value, writer)
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io;
    use std::sync::{Arc, Mutex};

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        escape_control(text, &mut out).expect("write to a String");
        out
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escaped("plain 名称"), "plain 名称");
        assert_eq!(escaped("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(escaped("\u{1b}[31mred\0"), "\\u{1b}[31mred\\u{0}");
        assert_eq!(escaped("x\u{85}y\u{2028}z"), "x\\u{85}y\\u{2028}z");
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_forged_line_stays_inside_its_own() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .fmt_fields(EscapedFields)
            .finish();
        let forged = "eve\n2026-01-01T00:00:00Z  INFO login ok username=admin";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(username = %forged, debug = ?forged, plain = forged, n = 3, "failed login for {forged}");
            tracing::warn!("second\r\nline");
        });
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains("failed login for eve\\n2026-01-01T00:00:00Z  INFO login ok"),
            "{text}"
        );
        assert!(lines[0].contains(" username=eve\\n2026"), "{text}");
        assert!(lines[0].contains(" debug=\"eve\\n2026"), "{text}");
        assert!(lines[0].contains(" n=3"), "{text}");
        assert!(lines[1].ends_with("second\\r\\nline"), "{text}");
    }
}
