use std::time::Instant;
use rampart_detect::{corpus, detectors};
use regex_automata::{meta::Regex, util::syntax, Input, MatchKind};
fn main() {
    let data = corpus::data_dir(&std::env::current_dir().unwrap()).unwrap();
    let input = corpus::benign_json(&data).unwrap();
    let pats: Vec<&str> = detectors::all().map(|d| d.pattern).collect();
    let re = Regex::builder().syntax(syntax::Config::new().unicode(false).utf8(false))
        .configure(Regex::config().match_kind(MatchKind::LeftmostFirst).utf8_empty(false).hybrid_cache_capacity(8<<20))
        .build_many(&pats).unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let n = re.find_iter(&input).count();
        println!("find_iter: {n} matches {:.1} MB/s", input.len() as f64 / t.elapsed().as_secs_f64() / 1e6);
        let t = Instant::now();
        let mut pos = 0; let mut n = 0;
        while let Some(m) = re.search(&Input::new(&input).range(pos..)) { n += 1; pos = m.start() + 1; }
        println!("start+1 loop: {n} matches {:.1} MB/s", input.len() as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    let mut by = std::collections::HashMap::new();
    for m in re.find_iter(&input) { *by.entry(pats.len().min(m.pattern().as_usize())).or_insert(0) += 1; }
    let ids: Vec<&str> = detectors::all().map(|d| d.id).collect();
    let mut v: Vec<_> = by.into_iter().collect(); v.sort_by_key(|x| -x.1);
    for (p, c) in v.iter().take(10) { println!("{} {}", ids[*p], c); }
}
