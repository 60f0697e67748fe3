use rampart_detect::{corpus, detectors, Gate};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, Input};
use std::time::Instant;
fn main() {
    let data = corpus::data_dir(&std::env::current_dir().unwrap()).unwrap();
    let input = corpus::benign_json(&data).unwrap();
    let prompts = std::fs::read(data.join("injecguard-notinject/wildguard.json")).unwrap();
    let mut lits = Vec::new();
    for d in detectors::all().filter(|d| d.gate == Gate::Prefix) {
        let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(d.pattern).unwrap();
        let mut ex = regex_syntax::hir::literal::Extractor::new(); ex.kind(regex_syntax::hir::literal::ExtractKind::Prefix).limit_literal_len(5).limit_total(4096);
        for l in ex.extract(&hir).literals().unwrap() { lits.push(l.as_bytes()[..l.len().min(5)].to_ascii_lowercase()); }
    }
    lits.sort(); lits.dedup();
    println!("{} folded literals", lits.len());
    for (name, hay) in [("json", &input), ("prompts", &prompts)] {
    for kind in [AhoCorasickKind::DFA, AhoCorasickKind::ContiguousNFA] {
        for mk in [MatchKind::Standard, MatchKind::LeftmostFirst] {
            let ac = aho_corasick::AhoCorasickBuilder::new().kind(Some(kind)).match_kind(mk).ascii_case_insensitive(true).build(&lits).unwrap();
            let t = Instant::now();
            let n = if mk == MatchKind::Standard { ac.find_overlapping_iter(hay.as_slice()).count() } else {
                let mut pos = 0; let mut n = 0;
                while let Some(m) = ac.find(Input::new(hay.as_slice()).range(pos..)) { n += 1; pos = m.start() + 1; }
                n
            };
            println!("{name} {kind:?} {mk:?}: {n} in {:.1} ms = {:.0} MB/s", t.elapsed().as_secs_f64()*1e3, hay.len() as f64 / t.elapsed().as_secs_f64() / 1e6);
        }
    }}
}
