//! Layer titles and field names in Chinese and English (`layer_catalog.title_zh`,
//! `title_en`, `field_titles`; migration 0012), read with the catalogue and set by an
//! admin (`citygrid layer set-title`, `PUT /api/admin/layers/{layer}/titles`).
//!
//! `field_titles` is `{"<field>": {"zh": "名称", "en": "Name"}}`. [`check`] is the one
//! rule for a change, shared by the command line and the API.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// A layer's titles.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerTitles {
    /// The title in Chinese, if set.
    pub title_zh: Option<String>,
    /// The title in English, if set.
    pub title_en: Option<String>,
    /// Field names: `{"<field>": {"zh": …, "en": …}}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub field_titles: Value,
}

/// A change of a layer's titles: what is given replaces what was there; an empty title
/// or a field mapped to `null` (or to `{}`) removes it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TitlesChange {
    /// The title in Chinese (`""`: none).
    pub title_zh: Option<String>,
    /// The title in English (`""`: none).
    pub title_en: Option<String>,
    /// Field names to set: `{"<field>": {"zh": …, "en": …} | null}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub field_titles: Option<Map<String, Value>>,
}

fn check_title(what: &str, text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("{what} is at most {MAX_TITLE_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{what} may not contain control characters"));
    }
    Ok(())
}

/// Checks `change` against the layer's field names: known fields only, each an object
/// of `zh`/`en` strings (or `null`), titles of at most [`MAX_TITLE_CHARS`] characters.
/// The error is one line naming what is wrong (and the layer's fields).
pub fn check(change: &TitlesChange, fields: &[&str]) -> Result<(), String> {
    if change.title_zh.is_none() && change.title_en.is_none() && change.field_titles.is_none() {
        return Err("nothing to change: give title_zh, title_en or field_titles".into());
    }
    if let Some(t) = &change.title_zh {
        check_title("title_zh", t)?;
    }
    if let Some(t) = &change.title_en {
        check_title("title_en", t)?;
    }
    for (name, value) in change.field_titles.iter().flatten() {
        if !fields.contains(&name.as_str()) {
            return Err(format!(
                "layer has no field {name:?}; its fields: {}",
                fields.join(", ")
            ));
        }
        match value {
            Value::Null => {}
            Value::Object(m) => {
                for (lang, text) in m {
                    if lang != "zh" && lang != "en" {
                        return Err(format!(
                            "field_titles.{name}: languages are zh and en, not {lang:?}"
                        ));
                    }
                    let Some(text) = text.as_str() else {
                        return Err(format!("field_titles.{name}.{lang} is a string"));
                    };
                    check_title(&format!("field_titles.{name}.{lang}"), text)?;
                }
            }
            _ => {
                return Err(format!(
                    "field_titles.{name} is {{\"zh\": …, \"en\": …}} or null"
                ))
            }
        }
    }
    Ok(())
}

/// Every layer's titles, by layer id.
pub async fn all(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<HashMap<String, LayerTitles>, sqlx::Error> {
    let rows: Vec<(String, Option<String>, Option<String>, Value)> =
        sqlx::query_as("SELECT id, title_zh, title_en, field_titles FROM layer_catalog")
            .fetch_all(executor)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, title_zh, title_en, field_titles)| {
            (
                id,
                LayerTitles {
                    title_zh,
                    title_en,
                    field_titles,
                },
            )
        })
        .collect())
}

/// Applies a checked `change` to layer `id` and announces it on
/// [`citygrid_db::LAYER_CHANNEL`] (every server reloads its catalogue; the layer's data
/// and version are untouched). `None`: no such layer.
pub async fn set(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
    change: &TitlesChange,
) -> Result<Option<LayerTitles>, sqlx::Error> {
    // Fields mapped to null or {} are removed; the others replace what was there.
    let fields = change
        .field_titles
        .clone()
        .map(Value::Object)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let row: Option<(Option<String>, Option<String>, Value)> = sqlx::query_as(
        "WITH up AS (
           UPDATE layer_catalog SET
             title_zh = CASE WHEN $2::text IS NULL THEN title_zh ELSE NULLIF(btrim($2), '') END,
             title_en = CASE WHEN $3::text IS NULL THEN title_en ELSE NULLIF(btrim($3), '') END,
             field_titles = (SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb)
                               FROM jsonb_each(field_titles || $4::jsonb) AS e(k, v)
                              WHERE jsonb_typeof(v) = 'object' AND v <> '{}'::jsonb),
             updated_at = now()
           WHERE id = $1
           RETURNING title_zh, title_en, field_titles)
         SELECT up.title_zh, up.title_en, up.field_titles FROM up
           CROSS JOIN LATERAL (SELECT pg_notify($5, $1)) AS announced",
    )
    .bind(id)
    .bind(&change.title_zh)
    .bind(&change.title_en)
    .bind(&fields)
    .bind(citygrid_db::LAYER_CHANNEL)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|(title_zh, title_en, field_titles)| LayerTitles {
        title_zh,
        title_en,
        field_titles,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(v: Value) -> TitlesChange {
        serde_json::from_value(v).expect("a change")
    }

    #[test]
    fn changes_are_checked_against_the_fields() {
        let fields = ["name", "code"];
        assert!(check(&change(json!({"title_zh": "道路"})), &fields).is_ok());
        assert!(check(
            &change(json!({"field_titles": {"name": {"zh": "名称", "en": "Name"}, "code": null}})),
            &fields
        )
        .is_ok());
        let err = check(
            &change(json!({"field_titles": {"nme": {"zh": "x"}}})),
            &fields,
        )
        .unwrap_err();
        assert!(err.contains("nme") && err.contains("name, code"), "{err}");
        assert!(check(
            &change(json!({"field_titles": {"name": {"fr": "x"}}})),
            &fields
        )
        .is_err());
        assert!(check(
            &change(json!({"field_titles": {"name": {"zh": 1}}})),
            &fields
        )
        .is_err());
        assert!(check(&change(json!({"field_titles": {"name": "x"}})), &fields).is_err());
        assert!(check(&change(json!({"title_en": "a\u{7}"})), &fields).is_err());
        assert!(check(&change(json!({"title_en": "x".repeat(201)})), &fields).is_err());
        assert!(check(&TitlesChange::default(), &fields).is_err());
        assert!(serde_json::from_value::<TitlesChange>(json!({"title": "x"})).is_err());
    }
}
