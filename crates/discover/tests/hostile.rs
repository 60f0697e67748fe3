//! Inputs nobody here wrote: arbitrary bytes and mangled documents given to the HAR, access-log
//! and OpenAPI readers and to the inventory never panic; the readers answer with an error or
//! with what they could read.

use proptest::prelude::*;
use rampart_discover::openapi::{Spec, Specs};
use rampart_discover::{Inventory, har, logs};

/// Pieces that JSON documents of these formats are made of, to build near-valid documents.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"log\"".to_owned()),
        Just("\"entries\"".to_owned()),
        Just("\"request\"".to_owned()),
        Just("\"url\"".to_owned()),
        Just("\"https://h.example/a/{x}/b?q=1\"".to_owned()),
        Just("\"method\"".to_owned()),
        Just("\"paths\"".to_owned()),
        Just("\"/p/{id}.json\"".to_owned()),
        Just("\"openapi\"".to_owned()),
        Just("\"servers\"".to_owned()),
        Just("\"get\"".to_owned()),
        Just("\"deprecated\"".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("12".to_owned()),
        "\"[a-z/{}:.@%-]{0,12}\"",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn readers_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = har::parse(&bytes);
        let _ = logs::parse(&String::from_utf8_lossy(&bytes));
        let _ = Spec::parse(&String::from_utf8_lossy(&bytes), "fuzz");
    }

    #[test]
    fn readers_never_panic_on_near_documents(parts in proptest::collection::vec(piece(), 0..60)) {
        let text = parts.concat();
        let _ = har::parse(text.as_bytes());
        let _ = logs::parse(&text);
        if let Ok(spec) = Spec::parse(&text, "fuzz") {
            let specs = Specs { specs: vec![spec] };
            for path in ["/", "/p/1.json", "/a/x/b", "//", "/v1/p/{id}.json", "/%7B%7D"] {
                let _ = specs.find("h.example", "GET", path);
            }
        }
    }

    #[test]
    fn the_inventory_takes_any_path(paths in proptest::collection::vec("[a-zA-Z0-9/{}%@._~-]{0,40}", 1..30)) {
        let mut inv = Inventory::new(Specs::default(), []);
        for p in &paths {
            inv.add(&rampart_discover::Event {
                host: "h".into(),
                method: "GET".into(),
                path: p.clone(),
                ..Default::default()
            });
        }
        let doc = inv.document();
        let calls: u64 = doc.endpoints.iter().map(|e| e.calls).sum();
        prop_assert_eq!(calls, paths.len() as u64);
    }
}
