//! A minimal XML writer: elements and escaped text, UTF-8, nothing else.

/// Builds an XML document into a string.
pub(crate) struct XmlWriter {
    buf: String,
}

impl XmlWriter {
    /// A document starting with the XML declaration.
    pub(crate) fn new() -> Self {
        Self {
            buf: String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        }
    }

    /// `<name>`.
    pub(crate) fn open(&mut self, name: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    /// `</name>`.
    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    /// `<name>text</name>`, or `<name/>` when `text` is `None`.
    pub(crate) fn text(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        match text {
            Some(t) => {
                self.open(name);
                escape_into(&mut self.buf, t);
                self.close(name)
            }
            None => {
                self.buf.push('<');
                self.buf.push_str(name);
                self.buf.push_str("/>");
                self
            }
        }
    }

    /// The finished document.
    pub(crate) fn finish(self) -> String {
        self.buf
    }
}

/// Escape `&`, `<`, `>`, `"`, `'`; drop characters XML 1.0 cannot represent (control
/// characters other than tab, newline and carriage return, and U+FFFE/U+FFFF).
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_drops_invalid_characters() {
        let mut w = XmlWriter::new();
        w.open("a")
            .text("b", Some("x < y & \"q\" 'z' > \u{1}井盖\n"))
            .text("c", None)
            .close("a");
        assert_eq!(
            w.finish(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><a><b>x &lt; y &amp; &quot;q&quot; &apos;z&apos; &gt; 井盖\n</b><c/></a>"
        );
    }
}
