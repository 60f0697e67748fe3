//! Loading of the shared evaluation data for tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared data folder: `$RAMPART_SHARED_DATA`, or `../shared/data` beside the repository.
pub fn data_dir() -> PathBuf {
    if let Ok(p) = std::env::var("RAMPART_SHARED_DATA") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        p.is_dir(),
        "shared data not found at {}; set RAMPART_SHARED_DATA",
        p.display()
    );
    p
}

/// One faker-pii row.
pub struct Row {
    pub text: String,
}

pub fn faker_rows() -> Vec<Row> {
    let raw = std::fs::read_to_string(data_dir().join("faker-pii/dev.jsonl")).unwrap();
    raw.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Row {
                text: v["text"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

/// One gitleaks case.
pub struct Case {
    pub text: String,
    pub tp: bool,
}

pub fn gitleaks_cases() -> Vec<Case> {
    let raw = std::fs::read_to_string(data_dir().join("gitleaks-rule-tests/cases.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| Case {
            text: i["text"].as_str().unwrap().to_string(),
            tp: i["label"] == "tp",
        })
        .collect()
}
