//! Kubernetes objects read from manifest files: YAML (many documents per file) or JSON, `List`
//! kinds expanded, folders walked for `.yaml`, `.yml` and `.json` files. Objects stay generic
//! JSON values: a manifest may use any API version or CRD, and a check reads only the fields
//! it knows.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// Largest manifest file read.
const MAX_FILE: u64 = 64 << 20;

/// The identity of an object, as findings name it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    /// `Deployment`, `Pod`, `ClusterRole`, ...
    pub kind: String,
    /// The namespace; `None` for cluster-scoped objects and for namespaced ones that name
    /// none (they land in the namespace they are applied to).
    pub namespace: Option<String>,
    /// The name (`generateName` when only that is given).
    pub name: String,
}

/// One object and where it came from.
#[derive(Clone, Debug)]
pub struct Object {
    /// Kind, namespace and name.
    pub id: ObjectRef,
    /// `apps/v1`, `v1`, ...
    pub api_version: String,
    /// The whole object.
    pub value: Value,
    /// The file it was read from (empty when it came from the API).
    pub file: String,
    /// Its document's first line in the file (1-based), when known.
    pub line: Option<u32>,
}

impl Object {
    /// An object from its JSON value (`None` when it has no kind).
    pub fn from_value(value: Value, file: &str, line: Option<u32>) -> Option<Object> {
        let kind = value.get("kind")?.as_str()?.to_owned();
        let meta = value.get("metadata");
        let text = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
        let name = text("name")
            .or_else(|| text("generateName"))
            .unwrap_or("")
            .to_owned();
        Some(Object {
            id: ObjectRef {
                kind,
                namespace: text("namespace").map(str::to_owned),
                name,
            },
            api_version: value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            value,
            file: file.to_owned(),
            line,
        })
    }

    /// The labels of the object.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.value
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
    }
}

/// What reading manifests gave.
#[derive(Debug, Default)]
pub struct Read {
    /// The objects.
    pub objects: Vec<Object>,
    /// Files that could not be read, with why.
    pub errors: Vec<(String, String)>,
    /// Files read.
    pub files: usize,
}

/// Reads every manifest under `paths` (files, or folders walked recursively; `-` is stdin).
/// A file that cannot be read or parsed is an error; the others are still read.
pub fn read(paths: &[PathBuf]) -> Read {
    let mut out = Read::default();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
                Ok(_) => parse_into(&text, "-", &mut out),
                Err(e) => out.errors.push(("-".into(), e.to_string())),
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = walk(p, true, &mut files) {
            out.errors.push((p.display().to_string(), e));
            continue;
        }
        for f in files {
            let name = f.display().to_string();
            match read_file(&f) {
                Ok(text) => parse_into(&text, &name, &mut out),
                Err(e) => out.errors.push((name, e)),
            }
        }
    }
    out
}

fn read_file(f: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(f).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE {
        return Err(format!("larger than {} MiB; not read", MAX_FILE >> 20));
    }
    let bytes = std::fs::read(f).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
}

/// The manifest files at `p`: itself when it is a file given by name, else the `.yaml`,
/// `.yml` and `.json` files under it, in name order.
fn walk(p: &Path, named: bool, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| e.to_string())?;
    if meta.is_file() {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if named || matches!(ext, "yaml" | "yml" | "json") {
            out.push(p.to_owned());
        }
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden {
            walk(&e, false, out)?;
        }
    }
    Ok(())
}

/// Parses one file's text into `out`.
fn parse_into(text: &str, file: &str, out: &mut Read) {
    out.files += 1;
    match parse(text, file) {
        Ok(objects) => out.objects.extend(objects),
        Err(e) => out.errors.push((file.to_owned(), e)),
    }
}

/// The objects of one manifest text (YAML documents or JSON).
pub fn parse(text: &str, file: &str) -> Result<Vec<Object>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let docs: Vec<Value> = if text.trim_start().starts_with(['{', '[']) {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            Ok(v) => vec![v],
            // JSON is YAML too: a near-JSON file gets the YAML reader's error
            Err(_) => serde_saphyr::from_multiple(text).map_err(|e| first_line(&e.to_string()))?,
        }
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| first_line(&e.to_string()))?
    };
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    let lines = document_lines(text);
    let lines = (lines.len() == docs.len()).then_some(lines);
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let line = lines.as_ref().map(|l| l[i]);
        expand(doc, file, line, &mut out, 0);
    }
    Ok(out)
}

/// Adds an object, or the items of a `List` (nested at most a few deep).
fn expand(v: Value, file: &str, line: Option<u32>, out: &mut Vec<Object>, depth: usize) {
    let is_list = v
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && v.get("items").is_some_and(Value::is_array);
    if is_list && depth < 4 {
        if let Some(Value::Array(items)) = v.get("items").cloned() {
            for item in items {
                expand(item, file, line, out, depth + 1);
            }
        }
        return;
    }
    if let Some(o) = Object::from_value(v, file, line) {
        out.push(o);
    }
}

/// The first line (1-based) of each non-empty YAML document of `text`.
fn document_lines(text: &str) -> Vec<u32> {
    let mut starts = Vec::new();
    let mut start = 1u32;
    let mut has_content = false;
    for (n, line) in (1u32..).zip(text.lines()) {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") {
            if has_content {
                starts.push(start);
            }
            start = n + 1;
            has_content = bare.len() > 4;
            continue;
        }
        let t = line.trim();
        if !has_content && !t.is_empty() && !t.starts_with('#') && t != "..." {
            has_content = true;
            start = n;
        }
    }
    if has_content {
        starts.push(start);
    }
    starts
}

/// The first line of a parser's error.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lists_and_json_are_read() {
        let yaml = "# leading comment\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ServiceAccount, metadata: {name: a, namespace: shop}}\n- {apiVersion: v1, kind: ServiceAccount, metadata: {name: b, namespace: shop}}\n";
        let objs = parse(yaml, "x.yaml").unwrap();
        let names: Vec<&str> = objs.iter().map(|o| o.id.name.as_str()).collect();
        assert_eq!(names, ["shop", "a", "b"]);
        assert_eq!(objs[0].line, Some(2));
        assert_eq!(objs[1].line, Some(7));
        assert_eq!(objs[1].id.namespace.as_deref(), Some("shop"));
        let json = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}"#;
        assert_eq!(parse(json, "p.json").unwrap()[0].id.kind, "Pod");
        assert!(parse("a: [unclosed", "bad.yaml").is_err());
        assert!(parse("", "empty.yaml").unwrap().is_empty());
    }
}
