use rampart_detect::{corpus, detectors, Gate};
use regex_syntax::hir::literal::{Extractor, ExtractKind};
fn main() {
    let data = corpus::data_dir(&std::env::current_dir().unwrap()).unwrap();
    let input = corpus::benign_json(&data).unwrap();
    let mut rows = Vec::new();
    for d in detectors::all().filter(|d| d.gate == Gate::Prefix) {
        let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(d.pattern).unwrap();
        let mut ex = Extractor::new(); ex.kind(ExtractKind::Prefix).limit_literal_len(8).limit_total(4096);
        let seq = ex.extract(&hir);
        let lits: Vec<Vec<u8>> = seq.literals().unwrap().iter().map(|l| l.as_bytes().to_vec()).collect();
        let ac = aho_corasick::AhoCorasick::new(&lits).unwrap();
        let hits = ac.find_overlapping_iter(&input).count();
        let short: Vec<String> = lits.iter().take(3).map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        rows.push((hits, lits.len(), d.id, short));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    for r in rows.iter().take(15) { println!("{:>7} hits {:>6} lits {} {:?}", r.0, r.1, r.2, r.3); }
}
