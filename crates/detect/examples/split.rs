use std::time::Instant;
use rampart_detect::{Scanner, ScannerConfig, corpus, detectors, Detector};
use rampart_core::DataClass;
fn main() {
    let data = corpus::data_dir(&std::env::current_dir().unwrap()).unwrap();
    let input = corpus::benign_json(&data).unwrap();
    let sets: [(&str, fn(&&Detector) -> bool); 3] = [("pii", |d| d.class != DataClass::Secret), ("secrets", |d| d.class == DataClass::Secret), ("all", |_| true)];
    for (name, f) in sets {
        let t = Instant::now();
        let s = Scanner::new(detectors::all().filter(f), ScannerConfig::default()).unwrap();
        let build = t.elapsed();
        for _ in 0..2 {
            let mut hits = Vec::new();
            let t = Instant::now();
            s.scan_raw(&input, &mut hits);
            println!("{name}: n={} build {:?} {:.1} MB/s hits {}", s.detectors().len(), build, input.len() as f64 / t.elapsed().as_secs_f64() / 1e6, hits.len());
        }
    }
}
