//! JSON schemas inferred from the bodies an endpoint was seen with: types, properties,
//! which are required (present every time), string formats, and the data classes found in
//! each field.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// Most properties kept per object (the rest are counted, not described).
const MAX_PROPERTIES: usize = 200;
/// Deepest nesting described.
const MAX_DEPTH: usize = 12;

/// What the values seen at one place of a document looked like.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// How many values were seen here.
    pub seen: u64,
    /// JSON types seen (`string`, `integer`, `number`, `boolean`, `null`, `object`, `array`).
    pub types: BTreeSet<&'static str>,
    /// Object properties, each with the number of objects that had it.
    pub properties: BTreeMap<String, Schema>,
    /// Objects seen here (to tell required properties).
    pub objects: u64,
    /// Array items.
    pub items: Option<Box<Schema>>,
    /// String formats every string here had (`email`, `uuid`, `date-time`, `date`, `uri`), or
    /// none once one did not.
    pub format: Option<Option<&'static str>>,
    /// Data classes found in the values here.
    pub classes: BTreeSet<String>,
}

impl Schema {
    /// Adds one value.
    pub fn observe(&mut self, v: &Value) {
        self.observe_at(v, 0);
    }

    fn observe_at(&mut self, v: &Value, depth: usize) {
        self.seen += 1;
        let t = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(s) => {
                let f = format_of(s);
                self.format = Some(match self.format {
                    None => f,
                    Some(prev) if prev == f => prev,
                    Some(_) => None,
                });
                "string"
            }
            Value::Array(a) => {
                if depth < MAX_DEPTH {
                    let items = self.items.get_or_insert_with(Default::default);
                    for x in a.iter().take(50) {
                        items.observe_at(x, depth + 1);
                    }
                }
                "array"
            }
            Value::Object(o) => {
                self.objects += 1;
                if depth < MAX_DEPTH {
                    for (k, x) in o {
                        if self.properties.len() >= MAX_PROPERTIES
                            && !self.properties.contains_key(k)
                        {
                            continue;
                        }
                        self.properties
                            .entry(k.clone())
                            .or_default()
                            .observe_at(x, depth + 1);
                    }
                }
                "object"
            }
        };
        self.types.insert(t);
    }

    /// Records a data class found at `path` (property names and `[]` for array items).
    pub fn tag(&mut self, path: &[String], class: &str) {
        match path.split_first() {
            None => {
                self.classes.insert(class.to_owned());
            }
            Some((first, rest)) if first == "[]" => {
                if let Some(items) = self.items.as_mut() {
                    items.tag(rest, class);
                }
            }
            Some((first, rest)) => {
                if let Some(p) = self.properties.get_mut(first) {
                    p.tag(rest, class);
                }
            }
        }
    }

    /// Merges what another schema saw.
    pub fn merge(&mut self, other: &Schema) {
        self.seen += other.seen;
        self.objects += other.objects;
        self.types.extend(other.types.iter().copied());
        self.classes.extend(other.classes.iter().cloned());
        self.format = match (self.format, other.format) {
            (None, f) | (f, None) => f,
            (Some(a), Some(b)) if a == b => Some(a),
            _ => Some(None),
        };
        for (k, s) in &other.properties {
            self.properties.entry(k.clone()).or_default().merge(s);
        }
        if let Some(i) = &other.items {
            self.items.get_or_insert_with(Default::default).merge(i);
        }
    }

    /// The JSON Schema (OpenAPI 3.1 dialect) of what was seen; data classes in
    /// `x-rampart-classes`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        let types: Vec<&str> = self.types.iter().copied().collect();
        match types.as_slice() {
            [] => {}
            [one] => {
                out.insert("type".into(), json!(one));
            }
            many => {
                out.insert("type".into(), json!(many));
            }
        }
        if let Some(Some(f)) = self.format {
            out.insert("format".into(), json!(f));
        }
        if !self.properties.is_empty() {
            let props: Map<String, Value> = self
                .properties
                .iter()
                .map(|(k, s)| (k.clone(), s.to_json()))
                .collect();
            let required: Vec<&String> = self
                .properties
                .iter()
                .filter(|(_, s)| self.objects > 0 && s.seen >= self.objects)
                .map(|(k, _)| k)
                .collect();
            out.insert("properties".into(), Value::Object(props));
            if !required.is_empty() {
                out.insert("required".into(), json!(required));
            }
        }
        if let Some(items) = &self.items {
            out.insert("items".into(), items.to_json());
        }
        if !self.classes.is_empty() {
            out.insert("x-rampart-classes".into(), json!(self.classes));
        }
        Value::Object(out)
    }
}

/// The JSON types, in the order of their bits in [`FieldRow::types`].
const TYPES: [&str; 7] = [
    "string", "integer", "number", "boolean", "null", "object", "array",
];

/// The string formats [`format_of`] knows.
const FORMATS: [&str; 5] = ["email", "uuid", "date-time", "date", "uri"];

/// One place of a schema as a store keeps it: counts that add up and sets that union, so
/// replicas merge schemas without reading them back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldRow {
    /// Property names from the root, `[]` for array items; empty for the root.
    pub path: Vec<String>,
    /// Values seen here.
    pub seen: u64,
    /// Objects seen here.
    pub objects: u64,
    /// JSON types seen, one bit each (`string` 1, `integer` 2, `number` 4, `boolean` 8,
    /// `null` 16, `object` 32, `array` 64).
    pub types: i64,
    /// The format every string here had: `None` no string yet, `Some("")` they differed.
    pub format: Option<String>,
    /// Data classes found here.
    pub classes: Vec<String>,
}

impl Schema {
    /// Every place of the schema as a row.
    pub fn to_rows(&self) -> Vec<FieldRow> {
        let mut out = Vec::new();
        self.rows_at(&mut Vec::new(), &mut out);
        out
    }

    fn rows_at(&self, path: &mut Vec<String>, out: &mut Vec<FieldRow>) {
        out.push(FieldRow {
            path: path.clone(),
            seen: self.seen,
            objects: self.objects,
            types: TYPES
                .iter()
                .enumerate()
                .filter(|(_, t)| self.types.contains(*t))
                .map(|(i, _)| 1i64 << i)
                .sum(),
            format: self.format.map(|f| f.unwrap_or("").to_owned()),
            classes: self.classes.iter().cloned().collect(),
        });
        for (k, p) in &self.properties {
            path.push(k.clone());
            p.rows_at(path, out);
            path.pop();
        }
        if let Some(items) = &self.items {
            path.push("[]".into());
            items.rows_at(path, out);
            path.pop();
        }
    }

    /// [`Schema::to_rows`], or nothing when no value was seen.
    pub fn to_rows_if_seen(&self) -> Vec<FieldRow> {
        if self.seen == 0 {
            Vec::new()
        } else {
            self.to_rows()
        }
    }

    /// Adds rows (read from a store) to this schema.
    pub fn add_rows<'r>(&mut self, rows: impl IntoIterator<Item = &'r FieldRow>) {
        for r in rows {
            if r.path.len() > MAX_DEPTH + 1 {
                continue;
            }
            let mut at = &mut *self;
            for seg in &r.path {
                at = if seg == "[]" {
                    at.items.get_or_insert_with(Default::default)
                } else {
                    if at.properties.len() >= MAX_PROPERTIES && !at.properties.contains_key(seg) {
                        break;
                    }
                    at.properties.entry(seg.clone()).or_default()
                };
            }
            at.merge(&Schema {
                seen: r.seen,
                objects: r.objects,
                types: TYPES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| r.types & (1 << i) != 0)
                    .map(|(_, t)| *t)
                    .collect(),
                format: r
                    .format
                    .as_deref()
                    .map(|f| FORMATS.iter().find(|k| **k == f).copied()),
                classes: r.classes.iter().cloned().collect(),
                ..Schema::default()
            });
        }
    }
}

/// The format a string value has, if it has a well-known one.
pub fn format_of(s: &str) -> Option<&'static str> {
    let b = s.as_bytes();
    if b.len() == 36 && crate::template::kind(s) == crate::template::Kind::Uuid {
        return Some("uuid");
    }
    if b.len() >= 20
        && s.contains('T')
        && crate::template::kind(&s[..10]) == crate::template::Kind::Date
    {
        return Some("date-time");
    }
    if b.len() == 10 && crate::template::kind(s) == crate::template::Kind::Date {
        return Some("date");
    }
    if (s.starts_with("http://") || s.starts_with("https://")) && !s.contains(' ') {
        return Some("uri");
    }
    if let Some(at) = s.find('@')
        && at > 0
        && !s.contains(' ')
        && s[at + 1..].contains('.')
    {
        return Some("email");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_survive_rows() {
        let mut s = Schema::default();
        s.observe(&json!({"id": 1, "email": "a@b.co", "tags": ["x", 2], "when": "2024-05-01"}));
        s.observe(&json!({"id": 2, "email": "c@d.io", "tags": [], "when": "soon"}));
        s.tag(&["email".into()], "EMAIL_ADDRESS");
        let rows = s.to_rows();
        assert_eq!(rows[0].path, Vec::<String>::new());
        let mut back = Schema::default();
        back.add_rows(&rows);
        assert_eq!(back.to_json(), s.to_json());
        // rows of two replicas add up like the values they saw
        let mut twice = s.clone();
        twice.merge(&s);
        back.add_rows(&rows);
        assert_eq!(back.to_json(), twice.to_json());
        assert_eq!(back.seen, 4);
    }

    #[test]
    fn schemas_know_types_required_fields_and_formats() {
        let mut s = Schema::default();
        s.observe(&json!({"id": 1, "email": "a@b.co", "tags": ["x"], "note": "hi"}));
        s.observe(&json!({"id": 2, "email": "c@d.io", "tags": []}));
        s.tag(&["email".into()], "EMAIL_ADDRESS");
        let j = s.to_json();
        assert_eq!(j["type"], "object");
        assert_eq!(j["required"], json!(["email", "id", "tags"]));
        assert_eq!(j["properties"]["id"]["type"], "integer");
        assert_eq!(j["properties"]["email"]["format"], "email");
        assert_eq!(
            j["properties"]["email"]["x-rampart-classes"],
            json!(["EMAIL_ADDRESS"])
        );
        assert_eq!(j["properties"]["tags"]["items"]["type"], "string");
        assert!(j["properties"]["note"].get("format").is_none());
    }
}
