//! OSM tags of a GDAL OSM-driver feature: its tag columns plus the `other_tags`
//! hstore-like string (`"key"=>"value","k2"=>"v2"`, `\"` and `\\` escaped).

/// The tags of one feature, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(pub Vec<(String, String)>);

impl Tags {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Adds a tag.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.push((key.into(), value.into()));
    }

    /// All tags as a JSON object.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

/// Parses GDAL's `other_tags` into `tags`. Malformed input stops the parse; what was
/// read so far is kept.
pub fn parse_other_tags(text: &str, tags: &mut Tags) {
    let mut chars = text.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<String> {
        if chars.next()? != '"' {
            return None;
        }
        let mut s = String::new();
        loop {
            match chars.next()? {
                '\\' => s.push(chars.next()?),
                '"' => return Some(s),
                c => s.push(c),
            }
        }
    };
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return;
        }
        let Some(key) = quoted(&mut chars) else {
            return;
        };
        if chars.next() != Some('=') || chars.next() != Some('>') {
            return;
        }
        let Some(value) = quoted(&mut chars) else {
            return;
        };
        tags.push(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let mut t = Tags::default();
        parse_other_tags(
            r#""emergency"=>"fire_hydrant","name"=>"a \"b\", c","x"=>"1""#,
            &mut t,
        );
        assert_eq!(t.get("emergency"), Some("fire_hydrant"));
        assert_eq!(t.get("name"), Some("a \"b\", c"));
        assert_eq!(t.get("x"), Some("1"));
        let mut t = Tags::default();
        parse_other_tags(r#""broken"=>"#, &mut t);
        assert!(t.0.is_empty());
    }
}
