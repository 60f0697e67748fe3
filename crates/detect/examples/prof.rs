use rampart_detect::{Scanner, corpus};
fn main() {
    let data = corpus::data_dir(&std::env::current_dir().unwrap()).unwrap();
    for (name, input) in [("json", corpus::benign_json(&data).unwrap()), ("pii", corpus::pii_dense(&data).unwrap())] {
        for (g, n, t) in Scanner::builtin().candidate_profile(&input) {
            println!("{name} {g}: {n} candidates, {:.1} ms ({:.0} MB/s)", t * 1e3, input.len() as f64 / t / 1e6);
        }
    }
}
