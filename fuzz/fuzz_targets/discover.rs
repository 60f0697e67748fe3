//! Captured traffic from untrusted hands: HAR files, JSON access logs and OpenAPI specs of any
//! shape are read without panicking, and whatever they hold folds into the inventory and
//! renders in every format. The input is split: its first byte picks what the rest is read as.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_discover::openapi::{Spec, Specs};
use rampart_discover::{Inventory, har, logs, render};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut specs = Specs::default();
    let events = match pick % 3 {
        0 => har::parse(rest).map(|h| h.events).unwrap_or_default(),
        1 => logs::parse(&text).events,
        _ => {
            if let Ok(spec) = Spec::parse(&text, "fuzz.yaml") {
                specs.specs.push(spec);
            }
            Vec::new()
        }
    };
    let mut inv = Inventory::new(specs, ["gateway.internal".to_owned()]);
    for e in &events {
        inv.add(e);
    }
    let doc = inv.document();
    let _ = serde_json::to_string(&doc);
    let _ = render::text(&doc);
    let _ = render::openapi(&doc);
    let _ = render::mermaid(&doc);
    let _ = render::dot(&doc);
    let _ = render::graph(&doc);
    // what a store would keep, read back
    let rows = inv.take_rows();
    let mut again = Inventory::new(Specs::default(), []);
    again.add_rows(&rows);
    let _ = again.document();
});
