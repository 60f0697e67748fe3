use std::time::Instant;
use rampart_detect::{Scanner, ScannerConfig, corpus, detectors};
fn main() {
    let data = corpus::data_dir(&std::env::current_dir().unwrap()).unwrap();
    let input = corpus::benign_json(&data).unwrap();
    for d in detectors::all() {
        let s = Scanner::new(std::iter::once(d), ScannerConfig::default()).unwrap();
        let mut hits = Vec::new();
        s.scan_raw(&input, &mut hits);
        hits.clear();
        let t = Instant::now();
        s.scan_raw(&input, &mut hits);
        println!("{:<24} {:>8.1} MB/s hits {}", d.id, input.len() as f64 / t.elapsed().as_secs_f64() / 1e6, hits.len());
    }
}
